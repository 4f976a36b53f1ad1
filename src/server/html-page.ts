import type { FastifyReply } from "fastify";

/**
 * Everything the dashboard loads comes from this server (it is bundled: no CDN), so the policy allows this
 * origin only; no inline script or style, no plugins, and no framing by any page (clickjacking).
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The headers of every HTML page Tenon serves. No Referer leaves them: a one-time sign-in link carries its code
 * in the URL, and the pages it leads to must not pass it on.
 */
export function setHtmlSecurityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", contentSecurityPolicy)
    .header("x-frame-options", "DENY")
    .header("referrer-policy", "no-referrer")
    .header("x-content-type-options", "nosniff");
}

/** A short page of text (a heading and paragraphs, escaped), for a browser that lands on an error or a missing build. */
export function sendHtmlPage(reply: FastifyReply, status: number, title: string, paragraphs: string[]): FastifyReply {
  const body = paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`).join("\n");
  return setHtmlSecurityHeaders(reply)
    .code(status)
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(
      `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${escapeHtml(title)} · Tenon</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body>\n</html>\n`,
    );
}

/** Whether the request is a browser's (it accepts HTML), rather than a script's that wants JSON. */
export function acceptsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /\btext\/html\b/i.test(accept);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
