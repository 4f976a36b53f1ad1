import type { ReactNode } from "react";
import { ApiError } from "../api/client.ts";

/** What to show instead of an empty list: what it means and what to do next. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

/** An API error as the API worded it; a 403 says which role is needed, which is what the reader must know. */
export function ErrorNotice({ error, title = "Could not load this" }: { error: unknown; title?: string }) {
  const message =
    error instanceof ApiError
      ? error.status === 403
        ? `${error.message}. Ask an admin for a token with that role.`
        : error.message
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <div className="notice notice-bad" role="alert">
      <strong>{title}:</strong> {message}
    </div>
  );
}

/** Placeholder rows of the final height, so the page does not jump when the data arrives. */
export function LoadingRows({ rows = 5, columns }: { rows?: number; columns: number }) {
  return (
    <>
      {Array.from({ length: rows }, (_, row) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: placeholders have nothing but their position
        <tr key={row} className="loading-row">
          <td colSpan={columns}>
            {row === 0 && <span className="visually-hidden">Loading…</span>}
            <span className="skeleton" />
          </td>
        </tr>
      ))}
    </>
  );
}
