// A client's GBNF grammar (llama-server's `grammar` field, on its own routes and OpenAI's) -> the
// engine's compiled grammar. A syntax error is a 400 that says where it is (line and column), from
// our own check: llama.cpp's parser only logs its reason. What only llama.cpp can judge (left
// recursion, a <token> that is not one token) is a 400 with its message.
import { GrammarError, type Engine } from "../inference/engine.ts";
import { checkGbnf } from "../inference/gbnf.ts";
import { ApiError } from "./errors.ts";

export async function userGrammar(engine: Engine, gbnf: string, param = "grammar"): Promise<unknown> {
  const problem = checkGbnf(gbnf);
  if (problem) throw new ApiError(400, "invalid_grammar", `${param}: line ${problem.line}, column ${problem.column}: ${problem.message}`, param);
  try {
    return await engine.createGrammar(gbnf);
  } catch (err) {
    if (err instanceof GrammarError) throw new ApiError(400, "invalid_grammar", `${param}: ${err.message}`, param);
    throw err;
  }
}
