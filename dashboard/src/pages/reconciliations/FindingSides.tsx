import type { FindingSide, ReportFinding } from "../../api/reconciliation-types.ts";
import { formatSideValue, formatValue, recordFields } from "./findings.ts";

/**
 * A finding's two records side by side: what each system holds under the key (the fields `show` picked and the
 * compared values, after normalising), the differing field marked; a missing side says so.
 */
export function FindingSides({ finding }: { finding: ReportFinding }) {
  return (
    <div className="finding-sides">
      <SideRecords name="Left" side={finding.left} differing={finding.field} />
      <SideRecords name="Right" side={finding.right} differing={finding.field} />
    </div>
  );
}

function SideRecords({ name, side, differing }: { name: string; side: FindingSide | null; differing: string | null }) {
  if (side === null) {
    return (
      <div className="finding-side finding-side-missing">
        <h3 className="finding-side-name">{name}</h3>
        <p>Not there: no record has this key.</p>
      </div>
    );
  }
  return (
    <div className="finding-side">
      <h3 className="finding-side-name">
        {name}
        {side.records.length > 1 && <span className="muted"> · {side.records.length} records share the key</span>}
      </h3>
      {differing !== null && side.value !== undefined && (
        <p className="finding-value">
          {differing}: <strong>{formatSideValue(side.value)}</strong>
        </p>
      )}
      {side.records.map((record, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a side's records have no id of their own, only their order
        <dl key={index} className="finding-record">
          {recordFields(record).map(([field, value]) => (
            <div key={field} className={field === differing ? "finding-field differs" : "finding-field"}>
              <dt>{field}</dt>
              <dd>{formatValue(value)}</dd>
            </div>
          ))}
        </dl>
      ))}
    </div>
  );
}
