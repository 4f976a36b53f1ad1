/**
 * Breaks text into lines of at most `width` characters, at spaces where it can, keeping the text's own line
 * breaks and each line's indentation (pretty-printed JSON stays readable); a word longer than a line (a URL, a
 * JSON body) is cut across lines rather than lost.
 */
export function wrapText(text: string, width: number): string[] {
  return text.split("\n").flatMap((paragraph) => {
    const indent = /^ */.exec(paragraph)?.[0] ?? "";
    const room = Math.max(width - indent.length, Math.min(width, 20), 1);
    return wrapParagraph(paragraph.slice(indent.length), room).map((line) => indent + line);
  });
}

function wrapParagraph(paragraph: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of paragraph.split(" ")) {
    const candidate = line === "" ? word : `${line} ${word}`;
    if (candidate.length <= width) {
      line = candidate;
      continue;
    }
    if (line !== "") lines.push(line);
    line = word;
    while (line.length > width) {
      lines.push(line.slice(0, width));
      line = line.slice(width);
    }
  }
  lines.push(line);
  return lines;
}
