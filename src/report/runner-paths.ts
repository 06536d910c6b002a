/**
 * Trivy names what it scanned by the path it was given: the image tarball under the runner's
 * temporary folder (`--input`), a private copy of a VEX document. Those paths mean nothing to a
 * reader, and say how the runner is laid out; what is shown instead is the image reference.
 */
/** Every string of a value (a SARIF log, a decision) with each runner path replaced by what is shown instead. */
export function withoutRunnerPaths<T>(value: T, runnerPaths: ReadonlyMap<string, string>): T {
  if (runnerPaths.size === 0) return value;
  const replace = (item: unknown): unknown => {
    if (typeof item === 'string') return replaceRunnerPaths(item, runnerPaths);
    if (Array.isArray(item)) return item.map(replace);
    if (typeof item === 'object' && item !== null)
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [key, replace(entry)]));
    return item;
  };
  return replace(value) as T;
}

/** Longest path first, so that a path inside another is never replaced half-way. */
export function replaceRunnerPaths(text: string, runnerPaths: ReadonlyMap<string, string>): string {
  let result = text;
  for (const [path, shown] of [...runnerPaths].sort(([a], [b]) => b.length - a.length))
    if (path !== '') result = result.split(path).join(shown);
  return result;
}

/** The runner paths of a run: the scanned tarball shows as the image, VEX copies as their files. */
export function runnerPathsOf(
  image: string,
  tarball: string,
  vexNames: ReadonlyMap<string, string> = new Map(),
): Map<string, string> {
  return new Map([[tarball, image], ...vexNames]);
}
