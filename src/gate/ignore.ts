import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import type { Finding, FindingKind } from '../vocabulary.js';

/** One entry of an ignore file, in either of Trivy's two formats. */
export interface IgnoreRule {
  /** `any` for `.trivyignore` lines, which Trivy applies to every kind of finding. */
  readonly kind: FindingKind | 'any';
  readonly id: string;
  /** Globs over the file inside the image (package path, or the secret's/misconfiguration's file). */
  readonly paths: readonly string[];
  /** Package URLs; a version or qualifiers are compared only when the rule gives them. */
  readonly purls: readonly string[];
  /** `YYYY-MM-DD`; from 00:00 UTC that day the rule no longer hides anything (Trivy's reading). */
  readonly expiresAt?: string;
  readonly statement: string;
  /** `file:line` for messages. */
  readonly source: string;
}

/** Far more than any real ignore file; the bound keeps a mistaken path from filling memory. */
export const IGNORE_FILE_MAX_BYTES = 1024 * 1024;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Parses `.trivyignore` (one ID per line, optional `exp:YYYY-MM-DD`) or `.trivyignore.yaml`
 * (`vulnerabilities`, `secrets`, `misconfigurations`, `licenses` lists of `id`, `paths`, `purls`,
 * `expired_at`, `statement`), chosen by the file name. A malformed file throws and names the line:
 * a typo must not silently ignore, or stop ignoring, a finding. Errors give positions, never the
 * file's text: a file that is not an ignore file at all may hold anything, credentials included.
 */
export function parseIgnoreFile(text: string, fileName: string): IgnoreRule[] {
  return /\.ya?ml$/i.test(fileName) ? parseYamlIgnore(text, fileName) : parsePlainIgnore(text, fileName);
}

function parsePlainIgnore(text: string, fileName: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const source = `${fileName}:${index + 1}`;
    const words = [...line.matchAll(/\S+/g)];
    const [id = '', ...options] = words.map(([word]) => word);
    if (id === '' || id.startsWith('#')) continue;
    let expiresAt: string | undefined;
    for (const [position, option] of options.entries()) {
      if (option.startsWith('#')) break;
      const where = `${source}:${words[position + 1]!.index + 1}`;
      if (!option.startsWith('exp:'))
        throw new Error(`${where}: unknown option; a line is an ID optionally followed by exp:YYYY-MM-DD.`);
      expiresAt = checkedDate(option.slice(4), where, 'exp:');
    }
    rules.push({ kind: 'any', id, paths: [], purls: [], expiresAt, statement: '', source });
  }
  return rules;
}

const YAML_SECTIONS = {
  vulnerabilities: 'vulnerability',
  secrets: 'secret',
  misconfigurations: 'misconfiguration',
  licenses: 'license',
} as const satisfies Record<string, FindingKind>;

function parseYamlIgnore(text: string, fileName: string): IgnoreRule[] {
  const lineCounter = new LineCounter();
  const parsed = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${fileName}:${line}:${col}`;
  };
  const [syntaxError] = parsed.errors;
  if (syntaxError)
    throw new Error(`${at(syntaxError.pos[0])} is not valid YAML (${syntaxError.code}); fix the file there.`);
  const document: unknown = parsed.toJS();
  if (document === null || document === undefined) return [];
  if (typeof document !== 'object' || Array.isArray(document))
    throw new Error(
      `${fileName} must be a mapping with vulnerabilities, secrets, misconfigurations or licenses lists.`,
    );
  const rules: IgnoreRule[] = [];
  for (const [section, value] of Object.entries(document as Record<string, unknown>)) {
    const kind = YAML_SECTIONS[section as keyof typeof YAML_SECTIONS];
    if (kind === undefined) {
      const key = isMap(parsed.contents)
        ? parsed.contents.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === section)?.key
        : undefined;
      const offset = isScalar(key) ? (key.range?.[0] ?? 0) : 0;
      throw new Error(`${at(offset)}: unknown section; use ${Object.keys(YAML_SECTIONS).join(', ')}.`);
    }
    if (value === null) continue;
    if (!Array.isArray(value))
      throw new Error(`${fileName}: ${section} must be a list of entries with an id.`);
    for (const [index, entry] of value.entries()) {
      const source = `${fileName}: ${section}[${index}]`;
      if (typeof entry !== 'object' || entry === null || typeof (entry as { id?: unknown }).id !== 'string')
        throw new Error(`${source} has no id.`);
      const { id, paths, purls, expired_at: expiredAt, statement } = entry as Record<string, unknown>;
      rules.push({
        kind,
        id: id as string,
        paths: stringList(paths, `${source}.paths`),
        purls: kind === 'vulnerability' ? checkedPurls(stringList(purls, `${source}.purls`), source) : [],
        expiresAt:
          expiredAt === undefined || expiredAt === null
            ? undefined
            : checkedDate(
                expiredAt instanceof Date ? expiredAt.toISOString().slice(0, 10) : String(expiredAt),
                source,
                'expired_at',
              ),
        statement: typeof statement === 'string' ? statement.trim() : '',
        source,
      });
    }
  }
  return rules;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
    throw new Error(`${where} must be a list of strings.`);
  return value as string[];
}

function checkedPurls(purls: string[], source: string): string[] {
  const bad = purls.findIndex((purl) => parsePurl(purl) === undefined);
  if (bad >= 0)
    throw new Error(
      `${source}: purls[${bad}] is not a package URL; write pkg:<type>/<namespace>/<name>[@version].`,
    );
  return purls;
}

function checkedDate(value: string, source: string, field: string): string {
  if (!DATE.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)))
    throw new Error(`${source}: ${field} is not a date; write YYYY-MM-DD.`);
  return value;
}

/** When the rule stops applying, or undefined when it never expires. */
export function expiryTime(rule: IgnoreRule): number | undefined {
  return rule.expiresAt === undefined ? undefined : Date.parse(`${rule.expiresAt}T00:00:00Z`);
}

export function isExpired(rule: IgnoreRule, now: Date): boolean {
  const expiry = expiryTime(rule);
  return expiry !== undefined && now.getTime() >= expiry;
}

/** Whether a rule (expired or not) names this finding. */
export function ruleMatches(rule: IgnoreRule, finding: Finding): boolean {
  if (rule.id !== finding.id) return false;
  if (rule.kind !== 'any' && rule.kind !== finding.kind) return false;
  if (rule.paths.length > 0 && !rule.paths.some((glob) => globMatches(glob, finding.path ?? '')))
    return false;
  if (rule.purls.length > 0 && !rule.purls.some((purl) => purlMatches(purl, finding.purl ?? '')))
    return false;
  return true;
}

const globCache = new Map<string, RegExp>();

/** `**` crosses directories, `*` and `?` do not; a leading `/` is optional, as image paths have none. */
export function globMatches(glob: string, path: string): boolean {
  let pattern = globCache.get(glob);
  if (!pattern) {
    const body = glob
      .replace(/^\/+/, '')
      .split(/(\*\*\/?|\*|\?)/)
      .map((part) => {
        if (part === '**/') return '(?:.*/)?';
        if (part === '**') return '.*';
        if (part === '*') return '[^/]*';
        if (part === '?') return '[^/]';
        return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    pattern = new RegExp(`^${body}$`);
    globCache.set(glob, pattern);
  }
  return path !== '' && pattern.test(path.replace(/^\/+/, ''));
}

interface Purl {
  readonly type: string;
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
  readonly qualifiers: ReadonlyMap<string, string>;
}

function parsePurl(text: string): Purl | undefined {
  const match = /^pkg:([^/]+)\/(.+?)(?:@([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/.exec(text);
  if (!match) return undefined;
  const [, type = '', fullName = '', version = '', query = ''] = match;
  const slash = fullName.lastIndexOf('/');
  const qualifiers = new Map<string, string>();
  for (const pair of query.split('&').filter(Boolean)) {
    const [key = '', value = ''] = pair.split('=');
    qualifiers.set(key.toLowerCase(), decodeURIComponent(value));
  }
  return {
    type: type.toLowerCase(),
    namespace: slash < 0 ? '' : decodeURIComponent(fullName.slice(0, slash)),
    name: decodeURIComponent(fullName.slice(slash + 1)),
    version: decodeURIComponent(version),
    qualifiers,
  };
}

function purlMatches(ruleText: string, findingText: string): boolean {
  const rule = parsePurl(ruleText);
  const finding = parsePurl(findingText);
  if (!rule || !finding) return false;
  if (rule.type !== finding.type || rule.namespace !== finding.namespace || rule.name !== finding.name)
    return false;
  if (rule.version !== '' && rule.version !== finding.version) return false;
  for (const [key, value] of rule.qualifiers) if (finding.qualifiers.get(key) !== value) return false;
  return true;
}
