/**
 * Whether a string can be stored and matched as given by both backends: PostgreSQL text cannot hold NUL,
 * and a lone UTF-16 surrogate is stored as U+FFFD, so two different ids would collide.
 */
export function isStorableText(value: string): boolean {
  return !value.includes("\u0000") && (value as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Makes free text (an error message quoting a bad body) storable: NUL escaped, lone surrogates replaced. */
export function toStorableText(value: string): string {
  return (value.replaceAll("\u0000", "\\u0000") as string & { toWellFormed(): string }).toWellFormed();
}
