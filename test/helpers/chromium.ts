// Debian's headless Chromium for the call tests, driven by playwright-core (no browser download):
// a fake camera and microphone, media allowed without a gesture.
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.PEOPLE_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Launches it; `onFailure` runs when the launch fails (e.g. to close the page's server). */
export async function launchMediaBrowser(onFailure: () => void): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 120_000,
      args: [
        "--no-sandbox", // CI runs as root
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
      ],
    });
  } catch (err) {
    onFailure();
    throw err;
  }
}
