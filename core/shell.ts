/** Single-quotes a word for the remote POSIX shell (left bare when it needs no quoting). */
export function shellWord(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
