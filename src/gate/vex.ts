import { readWorkspaceFile } from '../workspace-file.js';

/** A VEX document read from the workspace, checked to be one Trivy applies to an image scan. */
export interface VexDocument {
  /** The file's path relative to the repository root, as messages and the summary name it. */
  readonly name: string;
  readonly text: string;
  readonly format: 'OpenVEX' | 'CSAF';
}

/** Far more than any real VEX document; the bound keeps a mistaken path from filling memory. */
export const VEX_FILE_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Reads every `vex` file (never through a link) and checks each is a VEX document Trivy would
 * apply, as Trivy tells them apart (pkg/vex/document.go decodeVEX, in its order): CycloneDX JSON
 * (`bomFormat`), else OpenVEX (a non-empty `@context`), else CSAF (`vulnerabilities`). Trivy
 * applies CycloneDX VEX only to a CycloneDX SBOM scan and refuses it for an image. Every file's
 * problem is reported at once; no message quotes a file's content, which may be anything.
 */
export async function readVexDocuments(
  workspace: string,
  files: readonly { readonly path: string; readonly name: string }[],
): Promise<VexDocument[]> {
  const problems: string[] = [];
  const documents: VexDocument[] = [];
  for (const { path, name } of files) {
    try {
      const text = await readWorkspaceFile(workspace, path, VEX_FILE_MAX_BYTES);
      documents.push({ name, text, format: vexFormat(text, name) });
    } catch (error) {
      problems.push(`- vex: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0)
    throw new Error(`The \`vex\` input has problems; nothing was built:\n${problems.join('\n')}`);
  return documents;
}

const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

function vexFormat(text: string, name: string): VexDocument['format'] {
  const document = parseJson(text);
  // The parser's message quotes the text, which may be anything: it is not repeated.
  if (document === NOT_JSON)
    throw new Error(`${name} is not valid JSON; give an OpenVEX or CSAF JSON document.`);
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw new Error(`${name} is not a JSON object; give an OpenVEX or CSAF JSON document.`);
  const fields = document as Record<string, unknown>;
  if (fields.bomFormat === 'CycloneDX')
    throw new Error(
      `${name} is CycloneDX VEX, which Trivy applies only when scanning a CycloneDX SBOM, not an image: write the statements as OpenVEX or CSAF.`,
    );
  if (typeof fields['@context'] === 'string' && fields['@context'] !== '') {
    if (!Array.isArray(fields.statements))
      throw new Error(`${name} is OpenVEX without a \`statements\` list; add the statements.`);
    return 'OpenVEX';
  }
  if (Array.isArray(fields.vulnerabilities)) {
    if (typeof fields.document !== 'object' || fields.document === null)
      throw new Error(
        `${name} has \`vulnerabilities\` but no CSAF \`document\`; give a whole CSAF advisory.`,
      );
    return 'CSAF';
  }
  throw new Error(
    `${name} is neither OpenVEX (\`@context\` and \`statements\`) nor CSAF (\`document\` and \`vulnerabilities\`); give one of those.`,
  );
}
