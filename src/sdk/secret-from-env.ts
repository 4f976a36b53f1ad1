import { ConfigurationError } from "./errors.ts";

/**
 * Marks a SecretRef. From the global symbol registry, so a ref made by a second copy of Tenon in
 * node_modules (the one a user's config imports) is still recognised.
 */
const secretRefBrand: unique symbol = Symbol.for("tenon.secretRef");

/**
 * A secret the config names but does not hold: the environment variable is read when the secret is
 * first used (a webhook verified, a connection's request sent), not when the config loads, so commands
 * that need no secret (`tenon runs`, `tenon connections`) work where the variables are not set.
 * `tenon start` and `tenon dev` check every one at start-up (see assertSecretsSet).
 */
export interface SecretRef {
  readonly [secretRefBrand]: true;
  /** The environment variable holding the value; safe to show. */
  readonly variable: string;
  /** The value, read once and kept; throws MissingSecretError naming the variable while it is unset. */
  resolve(): string;
}

/** A secret as a config gives it: a reference to the environment (`secretFromEnv`) or, in tests, the value itself. */
export type Secret = string | SecretRef;

/**
 * A secret's environment variable is not set (or empty) in this process. Thrown where the secret is used;
 * `tenon start` turns every missing one into a ConfigurationError before it starts (assertSecretsSet).
 */
export class MissingSecretError extends Error {
  override readonly name = "MissingSecretError";

  constructor(readonly variable: string) {
    super(`the environment variable ${variable} is not set; it holds a secret the config needs`);
  }
}

type Environment = Record<string, string | undefined>;

/**
 * A secret read from the environment when it is used, so it never sits in source:
 * `secrets: [secretFromEnv("STRIPE_WEBHOOK_SECRET")]`. The value is read at the first use and kept
 * for the life of the process (webhook verification is hot); a change to the variable takes a restart.
 */
export function secretFromEnv(variable: string, env: Environment = process.env): SecretRef {
  if (typeof variable !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw new ConfigurationError(
      `secretFromEnv needs the name of an environment variable (letters, digits and "_"), got ${JSON.stringify(variable)}`,
    );
  }
  let value: string | undefined;
  const shown = `secretFromEnv(${JSON.stringify(variable)})`;
  return {
    [secretRefBrand]: true,
    variable,
    resolve() {
      if (value !== undefined) return value;
      // An empty variable counts as unset, as env files and container specs often leave them so.
      const read = env[variable]?.trim();
      if (!read) throw new MissingSecretError(variable);
      value = read;
      return value;
    },
    // However the config is printed (a log line, JSON, console.log), it shows the variable, never the value.
    toString: () => shown,
    toJSON: () => shown,
    [Symbol.for("nodejs.util.inspect.custom")]: () => shown,
  } as SecretRef;
}

export function isSecretRef(value: unknown): value is SecretRef {
  return typeof value === "object" && value !== null && (value as Partial<SecretRef>)[secretRefBrand] === true;
}

/** The value of a secret; throws MissingSecretError if it is a reference whose variable is unset. */
export function resolveSecret(secret: Secret): string {
  return typeof secret === "string" ? secret : secret.resolve();
}

/** By name as well as class: a second copy of Tenon throws its own MissingSecretError. */
export function isMissingSecretError(error: unknown): error is MissingSecretError {
  return error instanceof Error && error.name === "MissingSecretError";
}
