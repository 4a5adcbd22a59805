// Runs named cases one after another and prints one JSON line per case on stdout, for
// harness/clients to assert on: {"case": name, ...what the case returned} or, when it threw,
// {"case": name, "error": {...}} with the error's class and status, so a Go test can check both.
// CASES (comma-separated names) narrows the run; everything else comes from the environment.

export const env = {
  baseURL: need("AISERVICE_BASE_URL"),
  apiKey: need("AISERVICE_API_KEY"),
  model: process.env.AISERVICE_MODEL || "gpt-4o-mini",
};

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export function describeError(err) {
  return {
    class: err?.constructor?.name ?? typeof err,
    name: err?.name,
    status: err?.status ?? err?.statusCode,
    message: String(err?.message ?? err).slice(0, 500),
  };
}

export async function run(cases) {
  const only = (process.env.CASES || "").split(",").filter(Boolean);
  for (const [name, fn] of Object.entries(cases)) {
    if (only.length && !only.includes(name)) continue;
    let line;
    try {
      line = { case: name, ...(await fn()) };
    } catch (err) {
      line = { case: name, error: describeError(err) };
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}

// pngSize reads a PNG's signature and its IHDR width and height (bytes 16..23, big-endian), so a
// Go test can check that an image answer is a real PNG of the requested size.
export function pngSize(bytes) {
  const b = Buffer.from(bytes);
  const png = b.length > 24 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return png ? { png, width: b.readUInt32BE(16), height: b.readUInt32BE(20) } : { png };
}
