// Splitting a command line into words (here so that model/portal-command.ts and
// core/commands.ts share it without model importing core).
/** Splits on whitespace; "double quotes" keep spaces inside one argument. */
export function tokenize(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) words.push(m[1] ?? m[2] ?? "");
  return words;
}
