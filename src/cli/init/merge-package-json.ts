/** A package.json as JSON parses it. */
export type Manifest = Record<string, unknown>;

/** What a scaffolded project's package.json needs, with the versions taken from Tenon's own package.json. */
export interface ProjectNeeds {
  name: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

export interface MergedManifest {
  manifest: Manifest;
  /** Fields added (or npm init's placeholder test script replaced), as "scripts.dev", "dependencies.tenon". */
  added: string[];
  /** Fields the project already had and keeps, though the scaffold would have set them otherwise: `scripts.test ("vitest")`. */
  kept: string[];
}

/** What `npm init -y` writes as the test script: a placeholder, not a choice. */
const npmInitTestScript = 'echo "Error: no test specified" && exit 1';

/**
 * Adds what the project needs to an existing package.json (or makes one when `existing` is undefined):
 * missing fields, scripts and dependencies only. It never removes or changes a field the project has,
 * apart from npm init's placeholder test script; a dependency the project has in either section (a
 * `tenon` installed from a tarball, say) is kept as it is. `"type": "module"` is set only if absent.
 */
export function mergePackageJson(existing: Manifest | undefined, needs: ProjectNeeds): MergedManifest {
  if (existing === undefined) {
    return {
      manifest: {
        name: needs.name,
        version: "0.1.0",
        private: true,
        type: "module",
        scripts: needs.scripts,
        dependencies: needs.dependencies,
        devDependencies: needs.devDependencies,
      },
      added: [],
      kept: [],
    };
  }
  const manifest: Manifest = { ...existing };
  const added: string[] = [];
  const kept: string[] = [];
  if (manifest.type === undefined) {
    manifest.type = "module";
    added.push("type");
  } else if (manifest.type !== "module") {
    kept.push(`type (${JSON.stringify(manifest.type)})`);
  }

  const scripts = { ...record(manifest.scripts) };
  for (const [name, command] of Object.entries(needs.scripts)) {
    const current = scripts[name];
    if (current === undefined || (name === "test" && current === npmInitTestScript)) {
      scripts[name] = command;
      added.push(`scripts.${name}`);
    } else if (current !== command) {
      kept.push(`scripts.${name} (${JSON.stringify(current)})`);
    }
  }
  manifest.scripts = scripts;

  const dependencies = { ...record(manifest.dependencies) };
  const devDependencies = { ...record(manifest.devDependencies) };
  const addMissing = (section: "dependencies" | "devDependencies", target: Record<string, unknown>) => {
    for (const [name, version] of Object.entries(needs[section])) {
      const current = dependencies[name] ?? devDependencies[name];
      if (current === undefined) {
        target[name] = version;
        added.push(`${section}.${name}`);
      } else if (current !== version) {
        kept.push(`${name} ${JSON.stringify(current)}`);
      }
    }
  };
  addMissing("dependencies", dependencies);
  addMissing("devDependencies", devDependencies);
  if (Object.keys(dependencies).length > 0) manifest.dependencies = dependencies;
  if (Object.keys(devDependencies).length > 0) manifest.devDependencies = devDependencies;
  return { manifest, added, kept };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A valid npm package name made of a directory's name: `My Integrations` → `my-integrations`. */
export function packageNameOf(directoryName: string): string {
  const name = directoryName
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+|-+$/g, "")
    .slice(0, 214);
  return name === "" ? "tenon-integrations" : name;
}
