// SentencePiece-style ("llama" tokenizer model) vocabulary for generated models.
// llama.cpp's SPM tokenizer starts from single UTF-8 characters and repeatedly merges the
// adjacent pair whose concatenation is a token with the highest score; anything left that is
// not a token falls back to <0xXX> byte tokens. So: every multi-character piece is added
// together with all its prefixes (a merge path always exists), scores fall with rank (earlier
// = preferred), and all 256 byte tokens exist (any UTF-8 text round-trips).
// Built only from arrays and fixed loops: no locale, no Map/object iteration order.

/** llama_token_type values as stored in tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** SentencePiece's word-boundary marker (U+2581 LOWER ONE EIGHTH BLOCK); it stands for a space. */
export const SPACE_MARK = "\u2581";

export const UNK_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
const FIRST_BYTE_ID = 3;
/** Ids below this are <unk>, <s>, </s> and the byte tokens; from here on, normal pieces. */
export const FIRST_NORMAL_ID = FIRST_BYTE_ID + 256;

export interface Vocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

// Roughly by frequency in English prose; the first ones survive in small vocabularies.
const WORDS = (
  "the and to of a in is it you that he was for on are with as I his they be at one have this from or " +
  "had by not word but what some we can out other were all there when up use your how said an each she " +
  "which do their time if will way about many then them write would like so these her long make thing see " +
  "him two has look more day could go come did number sound no most people my over know water than call " +
  "first who may down side been now find any new work part take get place made live where after back " +
  "little only round man year came show every good me give our under name very through just form sentence " +
  "great think say help low line differ turn cause much mean before move right boy old too same tell does " +
  "set three want air well also play small end put home read hand port large spell add even land here " +
  "must big high such follow act why ask men change went light kind off need house picture try us again " +
  "animal point mother world near build self earth father head stand own page should country found answer " +
  "school grow study still learn plant cover food sun four between state keep eye never last let thought " +
  "city tree cross farm hard start might story saw far sea draw left late run while press close night real " +
  "life few north open seem together next white children begin got walk example ease paper group always " +
  "music those both mark often letter until mile river car feet care second book carry took science eat " +
  "room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main enough " +
  "plain girl usual young ready above ever red list though feel talk bird soon body dog family direct pose " +
  "leave song measure door product black short numeral class wind question happen complete ship area half " +
  "rock order fire south problem piece told knew pass since top whole king space heard best hour better true " +
  "during hundred five remember step early hold west ground interest reach fast verb sing listen six table " +
  "travel less morning ten simple several vowel toward war lay against pattern slow center love person money " +
  "serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead " +
  "cry dark machine note wait plan figure star box noun field rest correct able pound done beauty drive stood " +
  "contain front teach week final gave green oh quick develop ocean warm free minute strong special mind " +
  "behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object decide " +
  "surface deep moon island foot system busy test record boat common gold possible plane stead dry wonder " +
  "laugh thousand ago ran check game shape equate hot miss brought heat snow tire bring yes distant fill east " +
  "paint language among Hello The It He She We They This In A What There When If You My Once"
).split(" ");

// Sub-word pieces (no boundary mark): common endings and letter groups.
const SUBWORDS = (
  "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi " +
  "ri ro ic ne ea ra ce li ch ll be ma si om ur ing ion tion ent ment ness able ible ly ful less ous ive est " +
  "ers ies ings ted ity ally ation ated ting ling ence ance ward"
).split(" ");

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
const ALNUM = LETTERS + LETTERS.toUpperCase() + "0123456789";

function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}

/** Ordered, de-duplicated normal pieces; generator so small vocabularies stop early. */
function* normalPieces(): Generator<string> {
  yield SPACE_MARK;
  for (let c = 0x21; c <= 0x7e; c++) yield String.fromCharCode(c);
  for (const ch of ALNUM) yield SPACE_MARK + ch;
  for (const w of SUBWORDS) yield* withPrefixes(w);
  for (const w of WORDS) yield* withPrefixes(SPACE_MARK + w);
  // Filler for larger vocabularies: letter pairs and triples, bare and word-initial.
  for (const a of LETTERS) for (const b of LETTERS) yield a + b;
  for (const a of LETTERS) for (const b of LETTERS) yield SPACE_MARK + a + b;
  for (const a of LETTERS) for (const b of LETTERS) for (const c of LETTERS) {
    yield a + b + c;
    yield SPACE_MARK + a + b + c;
  }
}

function* withPrefixes(piece: string): Generator<string> {
  // Pieces are BMP-only, so code units are characters; start at 2: single chars come first.
  for (let n = 2; n <= piece.length; n++) yield piece.slice(0, n);
}

/** Largest vocabulary buildVocab can fill. */
export const MAX_VOCAB = (() => {
  const seen = new Set<string>();
  for (const p of normalPieces()) seen.add(p);
  return FIRST_NORMAL_ID + seen.size;
})();

/** Builds a vocabulary of exactly `size` tokens: <unk>, <s>, </s>, 256 bytes, then pieces. */
export function buildVocab(size: number): Vocab {
  if (!Number.isInteger(size) || size <= FIRST_NORMAL_ID || size > MAX_VOCAB) {
    throw new Error(`vocab size must be an integer in [${FIRST_NORMAL_ID + 1}, ${MAX_VOCAB}], got ${size}`);
  }
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL] as number[];
  for (let b = 0; b < 256; b++) {
    tokens.push(byteToken(b));
    types.push(TOKEN_TYPE.BYTE);
  }
  const seen = new Set(tokens);
  for (const p of normalPieces()) {
    if (tokens.length === size) break;
    if (seen.has(p)) continue;
    seen.add(p);
    tokens.push(p);
    types.push(TOKEN_TYPE.NORMAL);
  }
  const scores = new Float32Array(size);
  for (let i = FIRST_NORMAL_ID; i < size; i++) scores[i] = -(i - FIRST_NORMAL_ID);
  return { tokens, scores, types: Int32Array.from(types) };
}
