import { ConfigurationError } from "../../sdk/errors.ts";

/** Node 20.19 is the first 20.x whose `require` loads ES modules and whose loader hooks tsx relies on by default. */
export const minimumNodeVersion = "20.19.0";

/** Throws a ConfigurationError saying what to install when `version` (default: this process's) is older than 20.19. */
export function assertSupportedNode(version: string = process.versions.node): void {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major > 20 || (major === 20 && minor >= 19)) return;
  throw new ConfigurationError(
    `Tenon needs Node.js ${minimumNodeVersion} or newer, and this is Node.js ${version}: install Node.js 20.19+, 22 or 24 (https://nodejs.org, or \`nvm install 22\`) and run the command again`,
  );
}
