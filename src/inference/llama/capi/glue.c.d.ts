// `import source from "./glue.c" with { type: "text" }`: Bun gives the file's text (embedded in a compiled executable).
declare const source: string;
export default source;
