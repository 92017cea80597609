#!/usr/bin/env node
// Committed launcher: npm links it at install time, before dist/ exists; the build fills dist/.
import { main } from '../dist/cli.js';

await main(process.argv);
