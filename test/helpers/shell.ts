/**
 * A shell script with every quoted string replaced by `Q` (newlines inside kept, so lines keep
 * their numbers), every backslash-escaped character by `_`, every line continuation by a space
 * (and its newline) and every comment removed: what is left is what the shell reads as operators and bare words.
 * Enough for documentation snippets: `$(…)` inside double quotes is not parsed.
 */
export function unquoted(script: string): string {
  let out = "";
  let atWordStart = true;
  let i = 0;
  /** Skips a quoted string from `from` (its opening quote) to its closing quote; returns the index after it. */
  const skip = (from: number, close: string, escapes: boolean): number => {
    let j = from + 1;
    while (j < script.length && script[j] !== close) j += escapes && script[j] === "\\" ? 2 : 1;
    if (j >= script.length) throw new Error(`unterminated ${close} quote starting at offset ${from}`);
    out += `Q${"\n".repeat((script.slice(from, j).match(/\n/g) ?? []).length)}`;
    return j + 1;
  };
  while (i < script.length) {
    const c = script[i] as string;
    if (c === "\\") {
      // A line continuation keeps its newline, so that lines keep their numbers.
      out += script[i + 1] === "\n" ? " \n" : "_";
      i += 2;
    } else if (c === "'") i = skip(i, "'", false);
    else if (c === "$" && script[i + 1] === "'") i = skip(i + 1, "'", true);
    else if (c === '"') i = skip(i, '"', true);
    else if (c === "#" && atWordStart) {
      while (i < script.length && script[i] !== "\n") i++;
    } else {
      out += c;
      i++;
    }
    atWordStart = /[\s;&|()]/.test(out[out.length - 1] ?? " ");
  }
  return out;
}

/** A redirection this project's snippets may use: a file descriptor to an absolute path or to another descriptor (`2>/dev/null`, `2>&1`). */
const REDIRECTION = /^[0-9]?>(\/\S+|&[0-9])$/;

/**
 * What makes a snippet's line unsafe to paste: an unquoted `|`, or `<` / `>` other than a
 * plain redirection (`--require power>=2` writes to a file named `=2`; `grant|indicate` is a
 * pipe), `[--optional]` syntax, a `…` placeholder, a placeholder host in a URL, a `$ ` prompt.
 * Each problem names the line of `script`, from 1.
 */
export function pasteProblems(script: string): string[] {
  const problems: string[] = [];
  const raw = script.split("\n");
  unquoted(script)
    .split("\n")
    .forEach((line, i) => {
      const at = `line ${i + 1} (${(raw[i] ?? "").trim()})`;
      if (line.includes("|")) problems.push(`${at}: an unquoted | makes a pipe`);
      for (const word of line.split(/[\s;()]+/)) {
        if (/[<>]/.test(word) && !REDIRECTION.test(word)) problems.push(`${at}: "${word}" holds an unquoted < or >, which the shell reads as a redirection`);
      }
      if (line.includes("[-")) problems.push(`${at}: [--optional] syntax is not a command`);
      if (line.includes("…")) problems.push(`${at}: "…" stands for something the reader must fill in`);
      if (/ws:\/\/[A-Z]/.test(line)) problems.push(`${at}: a placeholder host in a URL`);
      if (/^\s*\$\s/.test(line)) problems.push(`${at}: a "$ " prompt is pasted with the command`);
    });
  return problems;
}

/** The script's logical lines: continuations joined, comments and blank lines dropped, quoted strings kept as written. */
export function commandLines(script: string): string[] {
  return script
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((l) => unquoted(l).trim() !== "");
}
