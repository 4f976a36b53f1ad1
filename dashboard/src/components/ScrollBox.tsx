import type { ReactNode } from "react";

/**
 * A box that scrolls sideways or down when its content is larger (a wide table on a phone, a long error): it
 * takes keyboard focus, or a keyboard user could not scroll it.
 */
export function ScrollBox({ children, className = "table-wrap" }: { children: ReactNode; className?: string }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must take focus to be scrolled by keyboard
    <div className={className} tabIndex={0}>
      {children}
    </div>
  );
}
