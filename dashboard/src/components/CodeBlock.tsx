/** JSON pretty-printed, or text as it is; the block scrolls rather than widening the page. */
export function CodeBlock({ value, label, className }: { value: unknown; label: string; className?: string }) {
  const text = typeof value === "string" ? prettyIfJson(value) : JSON.stringify(value, null, 2);
  return (
    <figure className="code-figure">
      <figcaption className="visually-hidden">{label}</figcaption>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling block must take focus to be scrolled by keyboard */}
      <pre className={className ? `code ${className}` : "code"} tabIndex={0}>
        {text ?? "(empty)"}
      </pre>
    </figure>
  );
}

function prettyIfJson(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return text;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return text;
  }
}
