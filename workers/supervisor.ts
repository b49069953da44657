#!/usr/bin/env node
/**
 * camgate's entry point: the supervisor process that systemd starts (src/supervisor/main.ts).
 * Exit codes: 0 clean stop, 1 start-up failure, 78 configuration error.
 */
import { runSupervisor } from '../src/supervisor/main.js';

void runSupervisor(process.argv.slice(2), process.env);
