// The hub client's pure parts: URIs, endpoint and token resolution, quant names, and how hub
// statuses become one-line errors.
import { describe, expect, test } from "bun:test";
import { canonicalUri, HubError, isRemoteModel, parseHubUri, quantOf, quantsIn, resolveEndpoint, resolveHfToken, splitParts, statusError } from "../../src/models/hub.ts";

const HF = "https://huggingface.co/";

describe("model URIs", () => {
  test.each([
    ["hf:user/repo:Q8_0", { user: "user", repo: "repo", tag: "Q8_0", revision: "main" }],
    ["hf:user/repo:q4_k_m", { user: "user", repo: "repo", tag: "Q4_K_M", revision: "main" }],
    ["hf:user/repo", { user: "user", repo: "repo", tag: undefined, revision: "main" }],
    ["hf:user/repo:latest", { user: "user", repo: "repo", tag: undefined, revision: "main" }],
    ["hf://user/repo:Q8_0", { user: "user", repo: "repo", tag: "Q8_0", revision: "main" }],
    ["huggingface:user/repo:Q8_0", { user: "user", repo: "repo", tag: "Q8_0", revision: "main" }],
    ["hf.co/user/repo:Q8_0", { user: "user", repo: "repo", tag: "Q8_0", revision: "main" }],
    ["hf:user/repo/dir/model-Q8_0.gguf", { user: "user", repo: "repo", file: "dir/model-Q8_0.gguf", revision: "main" }],
    ["hf:user/repo/model.gguf#v2", { user: "user", repo: "repo", file: "model.gguf", revision: "v2" }],
    ["https://huggingface.co/user/repo/resolve/main/m%20x.gguf?download=true", { user: "user", repo: "repo", file: "m x.gguf", revision: "main" }],
    ["https://huggingface.co/user/repo/blob/dev/m.gguf", { user: "user", repo: "repo", file: "m.gguf", revision: "dev" }],
  ] as const)("%s", (uri, ref) => {
    expect(parseHubUri(uri, HF)).toEqual(ref);
    expect(isRemoteModel(uri)).toBe(true);
  });

  test("spellings of one model share one canonical form", () => {
    const forms = ["hf:u/r:Q8_0", "hf:u/r:q8_0", "hf://u/r:Q8_0", "huggingface:u/r:Q8_0", "hf.co/u/r:Q8_0"];
    expect(new Set(forms.map((f) => canonicalUri(parseHubUri(f, HF)!)))).toEqual(new Set(["hf:u/r:Q8_0"]));
    expect(canonicalUri(parseHubUri("hf:u/r/m.gguf#dev", HF)!)).toBe("hf:u/r/m.gguf#dev");
    expect(canonicalUri(parseHubUri("https://huggingface.co/u/r/resolve/main/m.gguf", HF)!)).toBe("hf:u/r/m.gguf");
  });

  test("URLs are the hub's on the endpoint's host; huggingface.co URLs only while the endpoint is huggingface.co", () => {
    const mirror = "https://mirror.example/hf/";
    expect(parseHubUri("https://mirror.example/hf/u/r/resolve/main/m.gguf", mirror)).toEqual({ user: "u", repo: "r", file: "m.gguf", revision: "main" });
    expect(parseHubUri("https://huggingface.co/u/r/resolve/main/m.gguf", mirror)).toBeUndefined();
    expect(parseHubUri("https://example.com/files/m.gguf", HF)).toBeUndefined();
    expect(parseHubUri("https://huggingface.co/u/r/tree/main", HF)).toBeUndefined();
  });

  test("files and store names are not remote; a URI without a repo is refused with the forms that work", () => {
    for (const s of ["models/x.gguf", "/abs/x.gguf", "hf_user_model.Q8_0", "x.gguf"]) expect(isRemoteModel(s)).toBe(false);
    expect(() => parseHubUri("hf:just-a-name", HF)).toThrow(/is not a model URI: use hf:user\/repo:QUANT/);
    expect(() => parseHubUri("hf:user/repo:Q8_0/extra", HF)).toThrow(HubError);
  });
});

describe("quant names and split parts", () => {
  test.each([
    ["Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"],
    ["model.q8_0.gguf", "Q8_0"],
    ["dir/Qwen3-8B-IQ4_XS-00001-of-00003.gguf", "IQ4_XS"],
    ["stories260K-F32.gguf", "F32"],
    ["gpt-oss-20b-MXFP4.gguf", "MXFP4"],
    ["model-BF16.gguf", "BF16"],
    ["README.gguf", undefined],
  ] as const)("%s -> %s", (name, quant) => expect(quantOf(name)).toBe(quant));

  test("a repo's quants, each once and sorted; non-GGUF files ignored", () => {
    const files = ["a-Q8_0.gguf", "a-F32-00001-of-00002.gguf", "a-F32-00002-of-00002.gguf", "a-Q4_K_M.gguf", "Q5_K_M.txt", "README.md"].map((path) => ({ path }));
    expect(quantsIn(files)).toEqual(["F32", "Q4_K_M", "Q8_0"]);
  });

  test("splitParts lists every part of a split file in order", () => {
    expect(splitParts("d/m-Q8_0-00001-of-00003.gguf")).toEqual(["d/m-Q8_0-00001-of-00003.gguf", "d/m-Q8_0-00002-of-00003.gguf", "d/m-Q8_0-00003-of-00003.gguf"]);
    expect(splitParts("m.gguf")).toEqual(["m.gguf"]);
  });
});

describe("endpoint and token", () => {
  test("--hf-endpoint, then WARREN_HF_ENDPOINT, MODEL_ENDPOINT, HF_ENDPOINT, then huggingface.co; always ending in /", () => {
    const env = { WARREN_HF_ENDPOINT: "http://w", MODEL_ENDPOINT: "http://m", HF_ENDPOINT: "http://h" };
    expect(resolveEndpoint("http://flag:8080/x", env)).toBe("http://flag:8080/x/");
    expect(resolveEndpoint(undefined, env)).toBe("http://w/");
    expect(resolveEndpoint(undefined, { MODEL_ENDPOINT: "http://m", HF_ENDPOINT: "http://h" })).toBe("http://m/");
    expect(resolveEndpoint(undefined, { HF_ENDPOINT: "https://hf-mirror.com" })).toBe("https://hf-mirror.com/");
    expect(resolveEndpoint("", { HF_ENDPOINT: " " })).toBe(HF);
    expect(() => resolveEndpoint("hf-mirror.com", {})).toThrow('the hub endpoint "hf-mirror.com" is not an http(s) URL');
    expect(() => resolveEndpoint(undefined, { HF_ENDPOINT: "ftp://x" })).toThrow(/ftp:\/\/x/);
  });

  test("HF_TOKEN, else the token file huggingface_hub writes (HF_TOKEN_PATH, HF_HOME, XDG_CACHE_HOME)", () => {
    const files: Record<string, string> = { "/t/path": "from-path\n", "/hfhome/token": "from-hf-home\n", "/xdg/huggingface/token": " from-xdg " };
    const read = (p: string) => {
      if (!(p in files)) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return files[p]!;
    };
    expect(resolveHfToken({ HF_TOKEN: "env", HF_TOKEN_PATH: "/t/path" }, read)).toBe("env");
    expect(resolveHfToken({ HF_TOKEN: "", HF_TOKEN_PATH: "/t/path", HF_HOME: "/hfhome" }, read)).toBe("from-path");
    expect(resolveHfToken({ HF_HOME: "/hfhome", XDG_CACHE_HOME: "/xdg" }, read)).toBe("from-hf-home");
    expect(resolveHfToken({ XDG_CACHE_HOME: "/xdg" }, read)).toBe("from-xdg");
    expect(resolveHfToken({ XDG_CACHE_HOME: "/nowhere" }, read)).toBeUndefined();
  });
});

describe("hub statuses as errors", () => {
  const ref = parseHubUri("hf:u/r:Q8_0", HF)!;
  const res = (status: number, errorCode?: string) => ({ status, statusText: "", headers: new Headers(errorCode ? { "x-error-code": errorCode } : {}) });

  test.each([
    [404, undefined, false, "not_found", "u/r does not exist on https://huggingface.co/: check the user/repo spelling (a private repo also needs HF_TOKEN)"],
    // The hub answers a missing repo with 401 when no token is sent; X-Error-Code tells it from a gated one.
    [401, "RepoNotFound", false, "not_found", "u/r does not exist on https://huggingface.co/: check the user/repo spelling (a private repo also needs HF_TOKEN)"],
    [401, "RepoNotFound", true, "not_found", "u/r does not exist on https://huggingface.co/: check the user/repo spelling"],
    [401, "GatedRepo", false, "gated", "u/r is gated or private (401): accept its terms at https://huggingface.co/u/r, then set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)"],
    [403, undefined, true, "gated", "u/r is gated or private and the hub refused HF_TOKEN (403): check that the token can read it and that you accepted its terms at https://huggingface.co/u/r"],
    [404, "EntryNotFound", false, "no_file", "u/r: no such file on https://huggingface.co/"],
    [503, undefined, false, "bad_response", "https://huggingface.co/ answered 503 for u/r: try again in a while"],
  ] as const)("status %d, X-Error-Code %p, token sent %p -> %s", (status, code, hadToken, want, message) => {
    const e = statusError(res(status, code), ref, HF, hadToken);
    expect(e.code).toBe(want);
    expect(e.message).toBe(message);
  });
});
