/**
 * The browser of the console's browser test: Debian's chromium at `/usr/bin/chromium` (or
 * `MERIDIAN_CHROMIUM`), driven by playwright-core (`npx playwright install` cannot download
 * browsers here). When it is missing and the user is root, it is installed from Debian's packages
 * (`apt-get install -y chromium`, after `apt-get update` if the first attempt fails), with progress
 * lines; otherwise the test fails with a message saying what to do.
 *
 * Run directly (`node --import tsx test/helpers/chromium.ts`, the package's `pretest`) it only
 * makes sure chromium is there.
 */
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { pathToFileURL } from "node:url";

/** Where Debian's package puts chromium. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/** The flags chromium needs here (docs TOOLCHAIN: headless in a container, no network chatter). */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]);

/** Chromium is missing and cannot be installed here. */
export class ChromiumUnavailable extends Error {
  override readonly name = "ChromiumUnavailable";
  readonly code = "CONSOLE_TEST_NO_CHROMIUM";
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: readonly string[], log: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      // apt is chatty: keep the lines that say where it is.
      for (const line of lines) {
        if (/^(Get|Setting up|Unpacking|Err|E:|Reading package lists)/.test(line)) log(`  ${line}`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", () => resolve(127));
    child.once("exit", (code) => resolve(code ?? 1));
  });
}

/**
 * The chromium executable, installing it when missing and possible.
 * @throws ChromiumUnavailable when it is missing and cannot be installed (not root, or apt failed).
 */
export async function ensureChromium(
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<string> {
  const path = process.env.MERIDIAN_CHROMIUM?.trim() || DEFAULT_CHROMIUM;
  if (await executable(path)) return path;
  if (path !== DEFAULT_CHROMIUM) {
    throw new ChromiumUnavailable(`MERIDIAN_CHROMIUM=${path} is not an executable file`);
  }
  if (process.getuid?.() !== 0) {
    throw new ChromiumUnavailable(
      `chromium is not installed (${DEFAULT_CHROMIUM}) and this user is not root: install it with ` +
        "`sudo apt-get install -y chromium`, or set MERIDIAN_CHROMIUM to a chromium executable",
    );
  }
  log(
    `console browser test: chromium missing, installing it from Debian's packages (apt-get install -y chromium)…`,
  );
  let code = await run("apt-get", ["install", "-y", "chromium"], log);
  if (code !== 0) {
    log("console browser test: apt-get install failed; apt-get update, then again…");
    await run("apt-get", ["update"], log);
    code = await run("apt-get", ["install", "-y", "chromium"], log);
  }
  if (code !== 0 || !(await executable(DEFAULT_CHROMIUM))) {
    throw new ChromiumUnavailable(
      `could not install chromium with apt-get (exit ${code}): install it by hand (apt-get install -y chromium)`,
    );
  }
  log(`console browser test: chromium installed at ${DEFAULT_CHROMIUM}`);
  return DEFAULT_CHROMIUM;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const path = await ensureChromium();
    process.stdout.write(`console browser test: chromium at ${path}\n`);
  } catch (error) {
    process.stderr.write(`console browser test: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
