/**
 * The default state hash of the race explorer: a canonical string of a
 * plain-object state.
 *
 * Two states get the same key exactly when they hold the same values: object
 * keys are sorted, Maps and Sets are written in insertion order (the model's
 * own structures insert deterministically), class instances such as
 * `SpinLock` are written field by field under their class name. The key is
 * the whole string rather than a digest, so that two different states never
 * collide and merging states never hides an interleaving.
 *
 * @module
 */

/**
 * The canonical key of `value`. Throws a TypeError naming the path of a value
 * it cannot write (a function, a generator, a cycle): such a state needs a
 * `hash(state)` of its own.
 */
export function structuralHash(value: unknown): string {
  return write(value, "state", new Set());
}

function write(value: unknown, path: string, seen: Set<object>): string {
  switch (typeof value) {
    case "undefined":
      return "u";
    case "boolean":
      return value ? "T" : "F";
    case "number":
      return Object.is(value, -0) ? "n-0" : `n${value}`;
    case "bigint":
      return `b${value}`;
    case "string":
      return JSON.stringify(value);
    case "symbol":
      return `y${String(value.description)}`;
    case "function":
      throw new TypeError(
        `Cannot hash ${path}: a function; give the scenario a hash(state) of its own`,
      );
  }
  if (value === null) return "N";
  const obj = value as object;
  if (seen.has(obj)) {
    throw new TypeError(
      `Cannot hash ${path}: a cycle; give the scenario a hash(state) of its own`,
    );
  }
  seen.add(obj);
  try {
    return writeObject(obj, path, seen);
  } finally {
    seen.delete(obj);
  }
}

function writeObject(obj: object, path: string, seen: Set<object>): string {
  if (Array.isArray(obj)) {
    return `[${obj.map((v, i) => write(v, `${path}[${i}]`, seen)).join(",")}]`;
  }
  if (ArrayBuffer.isView(obj)) {
    const items = obj instanceof DataView
      ? new Uint8Array(obj.buffer, obj.byteOffset, obj.byteLength)
      : obj as unknown as ArrayLike<number | bigint>;
    return `${obj.constructor.name}[${Array.from(items).join(",")}]`;
  }
  if (obj instanceof Map) {
    const entries = [...obj].map(([k, v]) =>
      `${write(k, `${path} key`, seen)}=>${write(v, `${path}.get(${String(k)})`, seen)}`
    );
    return `Map{${entries.join(",")}}`;
  }
  if (obj instanceof Set) {
    return `Set{${[...obj].map((v) => write(v, `${path} item`, seen)).join(",")}}`;
  }
  if (Symbol.iterator in obj && typeof (obj as Generator).next === "function") {
    throw new TypeError(
      `Cannot hash ${path}: an iterator; give the scenario a hash(state) of its own`,
    );
  }
  const proto = Object.getPrototypeOf(obj);
  const tag = proto === Object.prototype || proto === null ? "" : proto.constructor?.name ?? "";
  const keys = Object.keys(obj).sort();
  const fields = keys.map((k) =>
    `${JSON.stringify(k)}:${write((obj as Record<string, unknown>)[k], `${path}.${k}`, seen)}`
  );
  return `${tag}{${fields.join(",")}}`;
}
