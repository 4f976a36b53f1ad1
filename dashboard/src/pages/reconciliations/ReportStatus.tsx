/** A report's state in a word: running, complete or abandoned; a dry run says so. */
export function ReportStatus({ status, dryRun }: { status: string; dryRun: boolean }) {
  const tone = status === "complete" ? "good" : status === "running" ? "busy" : "bad";
  return (
    <>
      <span className={`badge badge-${tone}`}>{status}</span>
      {dryRun && (
        <>
          {" "}
          <span className="badge badge-idle">dry run</span>
        </>
      )}
    </>
  );
}
