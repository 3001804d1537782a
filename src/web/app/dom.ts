// Building elements without HTML strings. Every text goes in as a Text node, so nothing a model or
// a server writes can become markup: the console never assigns innerHTML or anything like it
// (test/web/safety.test.ts keeps it so), and the page's Content-Security-Policy would block an
// inline script or handler anyway.
type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | undefined | ((ev: Event) => void);

/**
 * `h("button", { class: "primary", onclick: send }, "Send")`. A function value is an event listener
 * (the name minus its "on"); true sets a bare attribute, false and undefined leave it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, AttrValue> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, v] of Object.entries(attrs)) {
    if (typeof v === "function") {
      if (!name.startsWith("on")) throw new Error(`h(): a function for "${name}", which is not an event`);
      el.addEventListener(name.slice(2), v);
    } else if (name.startsWith("on")) {
      // An inline handler is a script in a string: CSP blocks it, and this never writes one.
      throw new Error(`h(): "${name}" must be a function`);
    } else if (v === true) {
      el.setAttribute(name, "");
    } else if (v !== false && v !== undefined) {
      el.setAttribute(name, String(v));
    }
  }
  append(el, ...children);
  return el;
}

/** Appends children; strings and numbers become Text nodes. */
function append(parent: ParentNode, ...children: Child[]): void {
  for (const c of children) if (c !== null && c !== undefined && c !== false) parent.append(typeof c === "number" ? String(c) : c);
}

/** The element with this id, of the expected kind; throws when the page lacks it (a broken build). */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof kind)) throw new Error(`the page has no ${kind.name} #${id}`);
  return el;
}

/** A number input's value, or undefined when it is empty (the server's default then applies). */
export function numberOf(input: HTMLInputElement): number | undefined {
  const v = input.value.trim();
  return v === "" || !Number.isFinite(Number(v)) ? undefined : Number(v);
}

/**
 * Coalesces work to at most once per animation frame: a stream can bring a thousand pieces a
 * second, and laying the page out for each would starve the browser (the Stop button with it).
 * `now()` runs pending work at once (at the end of a stream, or while the tab is hidden and no
 * frame comes).
 */
export function perFrame(work: () => void): { request(): void; now(): void } {
  let scheduled = 0;
  const run = () => {
    if (scheduled) cancelAnimationFrame(scheduled);
    scheduled = 0;
    work();
  };
  return {
    request() {
      if (!scheduled) scheduled = requestAnimationFrame(run);
    },
    now: run,
  };
}
