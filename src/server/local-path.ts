const maxLocalPathLength = 2000;

/**
 * A path on this server, never another origin: `//evil.example` and `/\evil.example` are read by
 * browsers as protocol-relative URLs, and browsers drop tabs and newlines, so `/\t/evil.example` is one too.
 * Where Tenon redirects a browser after a flow (OAuth's `return_to`, a sign-in link's `next`), only such paths go.
 */
export function isLocalPath(value: string): boolean {
  if (value.length > maxLocalPathLength || !/^\/(?![/\\])/.test(value)) return false;
  if (/[\s\\]/.test(value) || hasControlCharacter(value)) return false;
  const base = new URL("http://tenon.invalid");
  return new URL(value, base).origin === base.origin;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
