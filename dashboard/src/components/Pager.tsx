/** Newer / older pages over the API's keyset cursor: a page deep in a million runs costs what the first does. */
export function Pager(props: {
  page: number;
  hasNewer: boolean;
  hasOlder: boolean;
  onNewer: () => void;
  onOlder: () => void;
}) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="button" onClick={props.onNewer} disabled={!props.hasNewer}>
        ← Newer
      </button>
      <span className="muted">Page {props.page}</span>
      <button type="button" className="button" onClick={props.onOlder} disabled={!props.hasOlder}>
        Older →
      </button>
    </nav>
  );
}
