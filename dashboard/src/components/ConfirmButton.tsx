import { type ReactNode, useId, useRef } from "react";

/**
 * A button that asks first, in a modal dialog (the browser's own: focus is trapped and Escape cancels),
 * for actions that start runs against other systems.
 */
export function ConfirmButton(props: {
  label: string;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  return (
    <>
      <button
        type="button"
        className={props.className ?? "button"}
        disabled={props.disabled}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </button>
      <dialog ref={dialog} className="dialog" aria-labelledby={titleId}>
        <form method="dialog">
          <h2 id={titleId}>{props.title}</h2>
          <div className="dialog-body">{props.children}</div>
          <div className="dialog-actions">
            <button type="submit" value="cancel" className="button button-quiet">
              Cancel
            </button>
            <button type="submit" value="confirm" className="button button-primary" onClick={() => props.onConfirm()}>
              {props.confirmLabel}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
