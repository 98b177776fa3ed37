import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The examples an SRE copies from README.md and docs/readme/*.md, found by parsing the markdown
 * (never copied into a test by hand), each with the file:line it starts on.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Snippet {
  /** `README.md:212`, as a reader finds it. */
  readonly where: string;
  readonly text: string;
}

export interface JsonExample extends Snippet {
  readonly value: unknown;
  /** Where it was found: a fenced ```json block, or an inline code span. */
  readonly from: 'block' | 'inline';
}

/** README.md, then every docs/readme/*.md, relative to the repository. */
export function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs/readme'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/readme/${name}`);
  return ['README.md', ...docs];
}

const lineOf = (markdown: string, offset: number): number => markdown.slice(0, offset).split('\n').length;

/** Fenced code blocks: their info string, first content line and text. */
function fencedBlocks(
  markdown: string,
): { info: string; line: number; text: string; start: number; end: number }[] {
  const blocks: { info: string; line: number; text: string; start: number; end: number }[] = [];
  for (const match of markdown.matchAll(/^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    const start = match.index;
    blocks.push({
      info: (match[1] ?? '').trim(),
      line: lineOf(markdown, start) + 1,
      text: match[2] ?? '',
      start,
      end: start + match[0].length,
    });
  }
  return blocks;
}

/**
 * The top-level JSON values of a block: one object, several objects one after another (a block
 * of alternative requests), or `"key": {...}` members as cdk.json shows them (read as one object).
 */
function jsonValues(text: string, firstLine: number): { line: number; text: string; value: unknown }[] {
  const trimmed = text.trim();
  for (const candidate of [trimmed, `{${trimmed}}`]) {
    try {
      return [{ line: firstLine + leadingLines(text), text: trimmed, value: JSON.parse(candidate) }];
    } catch {
      // not this shape: try the next one
    }
  }
  const values: { line: number; text: string; value: unknown }[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') {
      if (depth === 0) start = i;
      depth += 1;
    } else if (char === '}' || char === ']') {
      depth -= 1;
      if (depth === 0) {
        const part = text.slice(start, i + 1);
        // A value that does not parse stays in the list: the test reports it as broken JSON.
        let value: unknown;
        try {
          value = JSON.parse(part);
        } catch (error) {
          value = new SyntaxError(`not JSON: ${(error as Error).message}`);
        }
        values.push({ line: firstLine + lineOf(text, start) - 1, text: part, value });
      }
    }
  }
  if (values.length === 0)
    values.push({ line: firstLine, text: trimmed, value: new SyntaxError('not JSON') });
  return values;
}

function leadingLines(text: string): number {
  return (/^\s*/.exec(text)?.[0] ?? '').split('\n').length - 1;
}

/** Inline code spans outside fenced blocks (a span may wrap onto the next line). */
function inlineSpans(markdown: string): { line: number; text: string }[] {
  const fences = fencedBlocks(markdown);
  const spans: { line: number; text: string }[] = [];
  for (const match of markdown.matchAll(/(?<!`)`([^`]+)`(?!`)/g)) {
    const offset = match.index;
    if (fences.some((block) => offset >= block.start && offset < block.end)) continue;
    spans.push({ line: lineOf(markdown, offset), text: (match[1] ?? '').replace(/\s*\n\s*/g, ' ') });
  }
  return spans;
}

/** Every JSON example: each value of a ```json block, and each inline span that is a JSON object or `"key": {...}`. */
export function jsonExamples(): JsonExample[] {
  const examples: JsonExample[] = [];
  for (const file of docFiles()) {
    const markdown = readFileSync(path.join(ROOT, file), 'utf8');
    for (const block of fencedBlocks(markdown).filter((b) => b.info === 'json')) {
      for (const value of jsonValues(block.text, block.line))
        examples.push({
          where: `${file}:${value.line}`,
          text: value.text,
          value: value.value,
          from: 'block',
        });
    }
    for (const span of inlineSpans(markdown)) {
      const text = span.text.trim();
      if (!/^(\{\s*"|"[A-Za-z]+"\s*:\s*[{[])/.test(text)) continue;
      const value = parseLoose(text);
      if (value !== undefined) examples.push({ where: `${file}:${span.line}`, text, value, from: 'inline' });
    }
  }
  return examples;
}

function parseLoose(text: string): unknown {
  for (const candidate of [text, `{${text}}`]) {
    try {
      return JSON.parse(candidate);
    } catch {
      // not this shape
    }
  }
  return undefined;
}

/** The CLI and npm commands of the docs: lines of code blocks (joined at `\`) and inline spans. */
export function commandExamples(): Snippet[] {
  const commands: Snippet[] = [];
  const isCommand = (text: string) => /^(dist\/)?liferay-backup\s+\S|^npm (run|start)\b/.test(text);
  for (const file of docFiles()) {
    const markdown = readFileSync(path.join(ROOT, file), 'utf8');
    for (const block of fencedBlocks(markdown).filter((b) => b.info === '' || b.info === 'sh')) {
      const lines = block.text.split('\n');
      for (let i = 0; i < lines.length; i += 1) {
        const first = i;
        let text = withoutComment(lines[i] ?? '').trim();
        while (text.endsWith('\\') && i + 1 < lines.length) {
          i += 1;
          text = `${text.slice(0, -1).trim()} ${withoutComment(lines[i] ?? '').trim()}`;
        }
        for (const part of text.split(/\s*&&\s*/))
          if (isCommand(withoutEnv(part)))
            commands.push({ where: `${file}:${block.line + first}`, text: withoutEnv(part) });
      }
    }
    for (const span of inlineSpans(markdown)) {
      const text = withoutEnv(span.text.trim());
      if (isCommand(text)) commands.push({ where: `${file}:${span.line}`, text });
    }
  }
  return commands;
}

/** `S3RVER_ORIGINAL_GET=1 npm run bench` runs `npm run bench`. */
const withoutEnv = (text: string): string => text.replace(/^([A-Z_][A-Z0-9_]*=\S*\s+)+/, '');

/** A line without its `# comment` (a `#` outside quotes, after a space). */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) return line.slice(0, i);
  }
  return line;
}

/** Shell words: `'...'` and `"..."` quoting, as the SRE's shell would split them. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    words.push(match[1] ?? match[2] ?? match[3] ?? '');
  }
  return words;
}

type Part = { kind: 'word'; text: string } | { kind: 'optional'; alternatives: Part[][] };

/** Words as tokens: `[` and `]` of optional groups, `|` between alternatives, and words. */
function usageTokens(words: readonly string[]): string[] {
  const tokens: string[] = [];
  let depth = 0;
  for (const original of words) {
    let word = original;
    while (word.startsWith('[-') || word.startsWith('[[')) {
      tokens.push('[');
      depth += 1;
      word = word.slice(1);
    }
    let closes = 0;
    while (word.endsWith(']') && depth - closes > 0) {
      closes += 1;
      word = word.slice(0, -1);
    }
    if (word === '|' && depth > 0) tokens.push('|');
    else if (word !== '') tokens.push(word);
    for (let i = 0; i < closes; i += 1) tokens.push(']');
    depth -= closes;
  }
  return tokens;
}

/**
 * The command lines a usage line stands for: `[...]` is optional, ` | ` inside it separates
 * alternatives, groups nest (`[--database-url URL [--database-overwrite]]`). Only a `[` before a
 * flag opens a group: `[ws=]https://...` and `primary|all|a,b` are placeholders of a value, taken
 * as written. Not every combination: the line without any optional part, the line with every
 * optional part (first alternatives), and one line for each other alternative, so that every word
 * is parsed at least once, and in the company of all the others.
 */
export function expandUsage(words: readonly string[]): string[][] {
  const tokens = usageTokens(words);
  let index = 0;
  const groups: Part[][][] = [];
  const sequence = (): Part[][] => {
    const alternatives: Part[][] = [[]];
    while (index < tokens.length) {
      const token = tokens[index] ?? '';
      index += 1;
      const current = alternatives[alternatives.length - 1] as Part[];
      if (token === ']') return alternatives;
      if (token === '|') alternatives.push([]);
      else if (token === '[') {
        const group = sequence();
        groups.push(group);
        current.push({ kind: 'optional', alternatives: group });
      } else current.push({ kind: 'word', text: token });
    }
    return alternatives;
  };
  const top = sequence();
  const line = (parts: Part[], pick: (group: Part[][]) => number): string[] =>
    parts.flatMap((part) => {
      if (part.kind === 'word') return [part.text];
      const chosen = part.alternatives[pick(part.alternatives)];
      return chosen ? line(chosen, pick) : [];
    });
  const first = top[0] ?? [];
  const lines = [line(first, () => -1), line(first, () => 0)];
  for (const group of groups)
    for (let i = 1; i < group.length; i += 1) lines.push(line(first, (g) => (g === group ? i : 0)));
  return [...new Map(lines.map((words) => [JSON.stringify(words), words])).values()];
}
