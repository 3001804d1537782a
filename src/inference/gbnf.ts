// A syntax check of GBNF grammars (llama.cpp's grammar format) that says where a grammar is wrong.
//
// llama.cpp's parser (src/llama-grammar.cpp) only logs its error; node-llama-cpp then reports that
// the grammar failed to parse, without the reason or the place. This walks the text by the same rules
// (same word characters, escapes, repetitions and the rule that a rule ends at a newline outside
// parentheses) and reports the first problem as "line L, column C: ...". It builds nothing:
// llama.cpp compiles the grammar afterwards, and still refuses what is beyond a syntax check
// (left recursion, `<token>` texts that are not one token).

interface GbnfProblem {
  message: string;
  /** 1-based. */
  line: number;
  /** 1-based, in characters. */
  column: number;
}

/** llama.cpp's MAX_REPETITION_THRESHOLD: repetitions beyond it are refused. */
const MAX_REPETITIONS = 2000;

class Problem extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";
const isWord = (c: string | undefined): boolean => c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "-" || isDigit(c));

/** The first problem in `src`, or undefined when its syntax is sound. */
export function checkGbnf(src: string): GbnfProblem | undefined {
  const p = new Parser(src);
  try {
    p.grammar();
    return undefined;
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    const before = src.slice(0, err.at).split(/\r\n|\r|\n/);
    return { message: err.message, line: before.length, column: before[before.length - 1]!.length + 1 };
  }
}

class Parser {
  private pos = 0;
  private readonly defined = new Set<string>();
  /** Referenced rule names, each with where it was first used. */
  private readonly used = new Map<string, number>();

  constructor(private readonly src: string) {}

  grammar(): void {
    this.space(true);
    if (this.pos >= this.src.length) throw new Problem("the grammar is empty (it needs a root rule)", 0);
    while (this.pos < this.src.length) this.rule();
    for (const [name, at] of this.used) if (!this.defined.has(name)) throw new Problem(`the rule "${name}" is used but never defined`, at);
    if (!this.defined.has("root")) throw new Problem('there is no rule named "root" (generation starts there)', this.src.length);
  }

  private rule(): void {
    const name = this.name();
    this.space(false);
    if (!this.src.startsWith("::=", this.pos)) throw new Problem(`expecting "::=" after the rule name "${name}"`, this.pos);
    this.defined.add(name);
    this.pos += 3;
    this.space(true);
    this.alternates(false);
    const c = this.src[this.pos];
    if (c === "\r") this.pos += this.src[this.pos + 1] === "\n" ? 2 : 1;
    else if (c === "\n") this.pos++;
    else if (c !== undefined) throw new Problem(`expecting a newline or the end after the rule "${name}", found ${JSON.stringify(c)}`, this.pos);
    this.space(true);
  }

  private alternates(nested: boolean): void {
    this.sequence(nested);
    while (this.src[this.pos] === "|") {
      this.pos++;
      this.space(true);
      this.sequence(nested);
    }
  }

  /** Items until something that is not one; `nested` (inside parentheses) lets newlines through. */
  private sequence(nested: boolean): void {
    let item = false;
    for (;;) {
      const c = this.src[this.pos];
      const start = this.pos;
      if (c === '"') this.literal();
      else if (c === "[") this.charClass();
      else if (c === "<" || c === "!") this.token();
      else if (isWord(c)) {
        const name = this.name();
        if (!this.used.has(name)) this.used.set(name, start);
      } else if (c === "(") {
        this.pos++;
        this.space(true);
        this.alternates(true);
        if (this.src[this.pos] !== ")") throw new Problem("expecting \")\" to close the group opened here", start);
        this.pos++;
      } else if (c === ".") this.pos++;
      else if (c === "*" || c === "+" || c === "?" || c === "{") {
        if (!item) throw new Problem(`"${c}" repeats nothing: it must follow an item`, this.pos);
        if (c === "{") this.braces();
        else this.pos++;
      } else return;
      item = true;
      this.space(nested);
    }
  }

  private literal(): void {
    const start = this.pos++;
    while (this.src[this.pos] !== '"') {
      if (this.pos >= this.src.length) throw new Problem("this string is never closed (missing '\"')", start);
      this.char();
    }
    this.pos++;
  }

  private charClass(): void {
    const start = this.pos++;
    if (this.src[this.pos] === "^") this.pos++;
    while (this.src[this.pos] !== "]") {
      if (this.pos >= this.src.length) throw new Problem('this character class is never closed (missing "]")', start);
      this.char();
      if (this.src[this.pos] === "-" && this.src[this.pos + 1] !== "]") {
        this.pos++;
        if (this.pos >= this.src.length) throw new Problem('this character class is never closed (missing "]")', start);
        this.char();
      }
    }
    this.pos++;
  }

  /** `<[id]>`, `<text>`, or either after `!`. */
  private token(): void {
    if (this.src[this.pos] === "!") this.pos++;
    if (this.src[this.pos] !== "<") throw new Problem('expecting "<" (a token) after "!"', this.pos);
    const start = this.pos;
    const end = this.src.indexOf(">", start);
    if (end === -1) throw new Problem('this token is never closed (missing ">")', start);
    const body = this.src.slice(start + 1, end);
    if (body.startsWith("[") && !/^\[\d+\]$/.test(body)) throw new Problem("a token id is written <[123]>", start);
    this.pos = end + 1;
  }

  private char(): void {
    if (this.src[this.pos] !== "\\") {
      this.pos += this.src.codePointAt(this.pos)! > 0xffff ? 2 : 1;
      return;
    }
    const e = this.src[this.pos + 1];
    const hex = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    if (hex > 0) {
      if (!new RegExp(`^[0-9a-fA-F]{${hex}}`).test(this.src.slice(this.pos + 2))) throw new Problem(`expecting ${hex} hex digits after "\\${e}"`, this.pos);
      this.pos += 2 + hex;
    } else if (e !== undefined && 'trn\\"[]-'.includes(e)) this.pos += 2;
    else throw new Problem(`unknown escape "\\${e ?? ""}" (known: \\t \\r \\n \\\\ \\" \\[ \\] \\- \\xHH \\uHHHH \\UHHHHHHHH)`, this.pos);
  }

  /** `{m}`, `{m,}` or `{m,n}`. */
  private braces(): void {
    const start = this.pos++;
    this.space(false);
    const min = this.int("expecting a number after \"{\"");
    this.space(false);
    let max = min;
    if (this.src[this.pos] === ",") {
      this.pos++;
      this.space(false);
      max = isDigit(this.src[this.pos]) ? this.int("") : Infinity;
      this.space(false);
    }
    if (this.src[this.pos] !== "}") throw new Problem('expecting "}" to close the repetition', start);
    this.pos++;
    if (min > MAX_REPETITIONS) throw new Problem(`at most ${MAX_REPETITIONS} repetitions`, start);
    if (max < min) throw new Problem(`the repetition's maximum (${max}) is below its minimum (${min})`, start);
  }

  private int(message: string): number {
    const start = this.pos;
    while (isDigit(this.src[this.pos])) this.pos++;
    if (this.pos === start) throw new Problem(message, start);
    return Number(this.src.slice(start, this.pos));
  }

  private name(): string {
    const start = this.pos;
    while (isWord(this.src[this.pos])) this.pos++;
    if (this.pos === start) throw new Problem(`expecting a rule name (letters, digits and "-"), found ${JSON.stringify(this.src[start] ?? "the end")}`, start);
    return this.src.slice(start, this.pos);
  }

  /** Spaces, tabs and # comments; newlines too where `newlines`. */
  private space(newlines: boolean): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === " " || c === "\t" || (newlines && (c === "\n" || c === "\r"))) this.pos++;
      else if (c === "#") while (this.pos < this.src.length && this.src[this.pos] !== "\n" && this.src[this.pos] !== "\r") this.pos++;
      else return;
    }
  }
}
