// What `warren models` shows of each stored model, read from its GGUF header with node-llama-cpp
// (split parts spliced): quant, parameters, trained context, and what its chat template can do.
// Capabilities are judged as the server judges them (inference/llama/chat-template.ts): the
// wrapper node-llama-cpp resolves for the template, whether that wrapper has a tool-call syntax
// and a thought segment. Without a loaded model's tokenizer the resolution can differ in rare
// cases from the server's; the banner of `warren serve` is the final word.
import { ChatWrapper, GgufFileType, readGgufFileInfo, resolveChatWrapper, type GgufFileInfo } from "node-llama-cpp";
import { quantOf } from "./hub.ts";

interface ModelFacts {
  architecture?: string;
  quant?: string;
  params?: number;
  /** Tokens the model was trained with (<arch>.context_length). */
  context?: number;
  /** The chat template: node-llama-cpp's wrapper name, or "none" (Warren then uses a plain transcript). */
  template: string;
  tools: boolean;
  reasoning: boolean;
}

/** Big arrays nobody here reads: skipping them keeps a listing of large models fast. */
const SKIP_KEYS = ["tokenizer.ggml.merges", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"];

export async function describeModel(path: string): Promise<ModelFacts> {
  const info = await readGgufFileInfo(path, { logWarnings: false, ignoreKeys: SKIP_KEYS });
  const general = info.metadata?.general as { architecture?: string; file_type?: number } | undefined;
  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? [];
  const params = tensors.reduce((a, t) => a + t.dimensions.reduce((x: number, d) => x * Number(d), 1), 0);
  const fileType = general?.file_type !== undefined ? GgufFileType[general.file_type] : undefined;
  const context = (info.architectureMetadata as { context_length?: number } | undefined)?.context_length;
  return {
    architecture: general?.architecture,
    quant: fileType?.replace(/^(MOSTLY|ALL)_/, "") ?? quantOf(path),
    params: tensors.length > 0 ? params : undefined,
    context: typeof context === "number" ? context : undefined,
    ...templateOf(info, path),
  };
}

function templateOf(info: GgufFileInfo, path: string): Pick<ModelFacts, "template" | "tools" | "reasoning"> {
  const jinja = (info.metadata?.tokenizer as { chat_template?: unknown } | undefined)?.chat_template;
  if (typeof jinja !== "string" || jinja.trim() === "") return { template: "none", tools: false, reasoning: false };
  try {
    const w = resolveChatWrapper({ fileInfo: info, filename: path, warningLogs: false, customWrapperSettings: { jinjaTemplate: { template: jinja } } }) as ChatWrapper | null;
    if (!w) return { template: "unknown", tools: false, reasoning: false };
    const thought = w.settings.segments?.thought;
    return { template: w.wrapperName, tools: w.settings.functions !== ChatWrapper.defaultSettings.functions, reasoning: thought !== undefined && thought !== null };
  } catch {
    return { template: "unreadable", tools: false, reasoning: false };
  }
}
