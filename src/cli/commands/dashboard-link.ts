import { readSettings, type Settings } from "../../config/settings.ts";
import { ValidationError } from "../../sdk/errors.ts";
import { createSignInLink, signInLinkTtlMs, signInLinkUrl } from "../../server/dashboard-sessions.ts";
import { type ApiRole, apiRoles, apiTokenNamePattern, apiTokenNameRule } from "../../storage/operator-store.ts";
import { cliUser, recordCliAction } from "../cli-operator-log.ts";
import { withMigratedStorage } from "../storage-from-settings.ts";

/**
 * `tenon dashboard-link [--role admin] [--name <name>]`: a one-time link that signs a browser in to the dashboard
 * of a running deployment, printed alone on stdout. It works once, within 10 minutes; only its digest is stored.
 * The session it opens acts as `--name` (default: the OS user running this) with `--role`; the operator log
 * records who made the link, and names that session in everything it does.
 */
export async function dashboardLinkCommand(options: { role: string; name?: string }): Promise<void> {
  if (!apiRoles.includes(options.role as ApiRole)) {
    throw new ValidationError(`--role is "${options.role}"; choose one of ${apiRoles.join(", ")}`);
  }
  const role = options.role as ApiRole;
  const name = options.name ?? defaultName();
  if (!apiTokenNamePattern.test(name)) throw new ValidationError(`--name is "${name}"; ${apiTokenNameRule}`);
  const settings = readSettings();
  let code = "";
  await withMigratedStorage(async (storage) => {
    code = await createSignInLink(storage.sessions, { name, role, now: Date.now() });
    await recordCliAction(storage, { action: "tenon dashboard-link", target: name, detail: `role ${role}` });
  }, settings);
  console.log(signInLinkUrl(browserBaseUrl(settings), code));
  console.error(
    `tenon: a sign-in link for "${name}" (${role}): it works once, within ${signInLinkTtlMs / 60_000} minutes. ${
      settings.publicUrl ? "" : "Set TENON_PUBLIC_URL if browsers reach Tenon at another address."
    }`.trimEnd(),
  );
}

/** The OS user, when it makes a valid name (it is what the operator log says of CLI actions too). */
function defaultName(): string {
  const user = cliUser();
  return apiTokenNamePattern.test(user) ? user : "dashboard-link";
}

/** Where a browser reaches this deployment: TENON_PUBLIC_URL, else the address it listens on (a wildcard one as loopback). */
function browserBaseUrl(settings: Settings): string {
  if (settings.publicUrl) return settings.publicUrl;
  const host = ["0.0.0.0", "::", ""].includes(settings.httpHost) ? "127.0.0.1" : settings.httpHost;
  return `http://${host.includes(":") ? `[${host}]` : host}:${settings.httpPort}`;
}
