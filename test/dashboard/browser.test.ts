import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";
import type { Browser, Page } from "puppeteer-core";
import { afterEach, describe, expect, it } from "vitest";
import { startNode } from "../../src/index.js";
import type { RunningNode } from "../../src/index.js";
import { dashboardRoutes, serveRoutes } from "../../src/node/dashboard/index.js";
import type { DashboardRoutes, HttpRoutesServer } from "../../src/node/dashboard/index.js";
import { trackNodes } from "../helpers/nodes.js";

/** Debian's chromium package (apt-get install -y chromium), or CHROMIUM_PATH. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const noChromium = !existsSync(CHROMIUM);
if (noChromium) console.log(`dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

const OUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
const track = trackNodes();
const quiet = { logLevel: "silent" as const, workers: 0 };

let browser: Browser | undefined;
let http: HttpRoutesServer | undefined;
let routes: DashboardRoutes | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await http?.close();
  http = undefined;
  routes?.close();
  routes = undefined;
});

const alive = (n: RunningNode): number => {
  const s = n.stats().servers;
  return Array.isArray(s) ? s.filter((e: { status?: unknown }) => e.status === "alive").length : 0;
};

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// What runs in the page is written as expressions: the tests compile without the DOM's types.
const ROWS = `[...document.querySelectorAll("#fleet tbody tr[data-server-id]")]`;
const BUSY = `${ROWS}.some((tr) => Number(tr.dataset.load) + Number(tr.dataset.reserved) > 0)`;
const IDLE = `${ROWS}.every((tr) => Number(tr.dataset.load) + Number(tr.dataset.reserved) === 0)`;
const CHARTED = `(() => {
  const c = window.__allotDashboard.charts, tps = c["chart-tps"], lat = c["chart-latency"];
  return tps !== undefined && lat !== undefined && tps.data[0].length >= 2 && tps.data[1].some((v) => v > 0);
})()`;
/** Per chart canvas, how many pixels are not blank. */
const INKED = `[...document.querySelectorAll(".chart canvas")].map((canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
})`;

/** The fleet table's rows as the page shows them. */
function fleetRows(page: Page): Promise<Array<{ id: string; status: string; load: number; reserved: number }>> {
  return page.evaluate(`${ROWS}.map((tr) => ({ id: tr.dataset.serverId, status: tr.dataset.status, load: Number(tr.dataset.load), reserved: Number(tr.dataset.reserved) }))`) as Promise<Array<{ id: string; status: string; load: number; reserved: number }>>;
}

const text = (page: Page, selector: string): Promise<string> => page.evaluate(`document.querySelector(${JSON.stringify(selector)}).textContent`) as Promise<string>;

describe("the dashboard in a real browser", () => {
  it.skipIf(noChromium)("shows every live server, then a load change and a new server without reloading, and draws its charts", async () => {
    const tier2 = await track(startNode({ ...quiet, role: "tier2", id: "tier2-1" }));
    const app = (id: string, power: number, region: string): Promise<RunningNode> =>
      track(startNode({ ...quiet, role: "app", id, apps: ["echo", "sleep"], capacity: 4, power, attrs: { region }, join: [tier2.url] }));
    await app("app-1", 1, "eu");
    await app("app-2", 2, "us");
    const client = await track(startNode({ ...quiet, role: "client", id: "browser-client", entries: [tier2.url] }));
    await until(() => alive(tier2) === 2, "two app servers at the tier-2");

    routes = dashboardRoutes(tier2);
    http = await serveRoutes([routes]);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e instanceof Error ? e.message : String(e)));
    // The page's content security policy must refuse nothing the page itself loads or does.
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(http.url, { waitUntil: "load" });
    // A mark that a reload would wipe out: everything below arrives through the live feed.
    await page.evaluate("window.loadedOnce = 1");

    await page.waitForFunction(`${ROWS}.length === 2`, { timeout: 10_000 });
    expect((await fleetRows(page)).map((r) => [r.id, r.status])).toEqual([
      ["app-1", "alive"],
      ["app-2", "alive"],
    ]);
    expect(await text(page, "#fleet tbody")).toContain("region=us");

    // A load change: tasks that run for a while show as load (or reserved slots) on the page.
    const warmup = await Promise.all([1, 2, 3].map((i) => client.submit({ app: "echo", payload: { i } })));
    expect(warmup).toHaveLength(3);
    const running = [1, 2, 3, 4].map(() => client.submit({ app: "sleep", payload: { ms: 2500 } }));
    await page.waitForFunction(BUSY, { timeout: 10_000 });

    // A new server appears without a reload.
    await app("app-3", 4, "eu");
    await page.waitForFunction(`document.querySelector('#fleet tbody tr[data-server-id="app-3"]') !== null`, { timeout: 10_000 });
    expect((await fleetRows(page)).map((r) => r.id)).toEqual(["app-1", "app-2", "app-3"]);

    // The decisions and the charts: series with data, canvases with drawn pixels.
    await page.waitForFunction(`document.querySelectorAll("#decisions tbody td.reason").length > 0`, { timeout: 10_000 });
    expect(await text(page, "#decisions tbody")).toMatch(/among the servers offering (echo|sleep)/);
    await page.waitForFunction(CHARTED, { timeout: 15_000 });
    const inked = (await page.evaluate(INKED)) as number[];
    expect(inked).toHaveLength(2);
    for (const n of inked) expect(n).toBeGreaterThan(100);

    await Promise.all(running);
    // The tasks finished: the load falls back, still without a reload.
    await page.waitForFunction(IDLE, { timeout: 10_000 });
    expect(await page.evaluate("window.loadedOnce")).toBe(1);
    expect(await text(page, "#feed")).toBe("live");
    expect(pageErrors).toEqual([]);

    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: `${OUT}dashboard.png`, fullPage: true });
    expect(existsSync(`${OUT}dashboard.png`)).toBe(true);
  }, 60_000);
});
