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
