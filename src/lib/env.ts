/**
 * A tiny reader for environment variables that collects every problem before failing, so a
 * misconfigured deployment hears about all of them at once, each with the variable's name.
 */
export function envReader(env: NodeJS.ProcessEnv) {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  return {
    problem(message: string) {
      problems.push(message);
    },
    string<D extends string | undefined>(name: string, fallback: D): D extends string ? string : string {
      const v = raw(name) ?? fallback;
      if (v === undefined) problems.push(`${name} is required`);
      return (v ?? '') as string;
    },
    int(name: string, fallback: number, min: number, max: number): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        problems.push(`${name} must be a whole number from ${min} to ${max} (got "${v}")`);
        return fallback;
      }
      return n;
    },
    bool(name: string, fallback: boolean): boolean {
      const v = raw(name)?.toLowerCase();
      if (v === undefined) return fallback;
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      problems.push(`${name} must be true or false (got "${v}")`);
      return fallback;
    },
    url(name: string, protocols: string[]): string | undefined {
      const v = raw(name);
      if (v === undefined) return undefined;
      try {
        const u = new URL(v);
        if (!protocols.includes(u.protocol)) {
          problems.push(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got "${u.protocol}//…")`);
        }
      } catch {
        problems.push(`${name} is not a valid URL`);
      }
      return v;
    },
    oneOf<T extends readonly string[]>(name: string, allowed: T, fallback: T[number]): T[number] {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (!allowed.includes(v)) {
        problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
        return fallback;
      }
      return v as T[number];
    },
    done() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
