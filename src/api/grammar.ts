// A client's GBNF grammar (llama-server's `grammar` field, on its own routes and OpenAI's) -> the
// engine's compiled grammar, or a 400 naming the field with the engine's reason (for a syntax error,
// its line and column).
import { GrammarError, type Engine } from "../inference/engine.ts";
import { ApiError } from "./errors.ts";

export async function userGrammar(engine: Engine, gbnf: string, param = "grammar"): Promise<unknown> {
  try {
    return await engine.createGrammar(gbnf);
  } catch (err) {
    if (err instanceof GrammarError) throw new ApiError(400, "invalid_grammar", `${param}: ${err.message}`, param);
    throw err;
  }
}
