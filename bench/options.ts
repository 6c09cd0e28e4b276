// The benchmarks' command-line options: `--name value`, else the fallback.

/** The value after `--name`, or `fallback`. */
export function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

/** The number after `--name`, or `fallback`. */
export const numberOption = (name: string, fallback: number): number => Number(option(name, String(fallback)));
