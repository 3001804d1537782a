// What the console keeps in the browser's localStorage: the conversation and the forms' fields, so
// a reload (or tomorrow) finds them as they were. Nothing is sent anywhere; Clear empties it.

const STATE_ITEM = "warren.console.v1";

export interface SavedMessage {
  role: "user" | "assistant" | "error";
  content: string;
  reasoning?: string;
  /** The model that answered, and the answer's figures line. */
  model?: string;
  meta?: string;
}

/** A form's fields by element id: text for inputs, selects and text areas, true/false for check boxes. */
export type FormValues = Record<string, string | boolean>;

interface Saved {
  messages: SavedMessage[];
  forms: Record<string, FormValues>;
}

export function loadSaved(): Saved {
  try {
    const v = JSON.parse(localStorage.getItem(STATE_ITEM) ?? "null") as Partial<Saved> | null;
    return { messages: Array.isArray(v?.messages) ? v.messages : [], forms: v?.forms && typeof v.forms === "object" ? v.forms : {} };
  } catch {
    return { messages: [], forms: {} };
  }
}

export function save(s: Saved): void {
  try {
    localStorage.setItem(STATE_ITEM, JSON.stringify(s));
  } catch {
    // Full or disabled storage: the console works on, it only forgets on reload.
  }
}

type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

function fields(root: ParentNode): Field[] {
  return [...root.querySelectorAll<Field>("input[id], select[id], textarea[id]")].filter((f) => !f.dataset.unsaved);
}

export function formValues(root: ParentNode): FormValues {
  const out: FormValues = {};
  for (const f of fields(root)) out[f.id] = f instanceof HTMLInputElement && f.type === "checkbox" ? f.checked : f.value;
  return out;
}

export function restoreForm(root: ParentNode, values: FormValues | undefined): void {
  if (!values) return;
  for (const f of fields(root)) {
    const v = values[f.id];
    if (typeof v === "boolean" && f instanceof HTMLInputElement && f.type === "checkbox") f.checked = v;
    else if (typeof v === "string" && !(f instanceof HTMLSelectElement)) f.value = v;
  }
}
