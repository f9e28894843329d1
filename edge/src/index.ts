import { createApp } from './app.ts';

/** The Worker entry point (wrangler.toml `main`). */
export default createApp();
