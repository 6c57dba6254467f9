/** A fenced code block of a Markdown file, with the headings it sits under. */
export interface CodeBlock {
  /** The info string's first word (`sh`, `ts`…), or "" for a bare fence. */
  lang: string;
  /** The block's text, without the fences, ending in a newline. */
  code: string;
  /** The line of the opening fence, from 1. */
  line: number;
  /** The headings above it, outermost first, without their `#` marks: ["Running nodes yourself", "The master/slave design"]. */
  headings: string[];
}

/** Every fenced (```) code block of `markdown`, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const headings: string[] = [];
  let open: { lang: string; line: number; lines: string[] } | undefined;
  markdown.split("\n").forEach((text, i) => {
    if (open) {
      if (/^```\s*$/.test(text)) {
        blocks.push({ lang: open.lang, code: open.lines.map((l) => `${l}\n`).join(""), line: open.line, headings: [...headings] });
        open = undefined;
      } else open.lines.push(text);
      return;
    }
    const fence = /^```\s*(\S*)/.exec(text);
    if (fence) {
      open = { lang: fence[1] ?? "", line: i + 1, lines: [] };
      return;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*$/.exec(text);
    if (heading) {
      const level = (heading[1] as string).length;
      headings.length = Math.min(headings.length, level - 1);
      while (headings.length < level - 1) headings.push("");
      headings.push(heading[2] as string);
    }
  });
  if (open) throw new Error(`the code block opened on line ${open.line} is never closed`);
  return blocks;
}

/** The blocks of `lang` (any of them) directly under the heading `title` (not under a subheading of it). */
export function blocksUnder(blocks: readonly CodeBlock[], title: string, langs: readonly string[]): CodeBlock[] {
  return blocks.filter((b) => b.headings[b.headings.length - 1] === title && langs.includes(b.lang));
}
