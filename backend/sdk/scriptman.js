// Helpers for JavaScript scripts run by Scriptman: const scriptman = require('scriptman')
'use strict';
const fs = require('fs');

let params = {};
try { params = JSON.parse(process.env.SCRIPT_PARAMETERS || '{}'); } catch (e) { params = {}; }

module.exports = {
  params,
  param: (name, fallback) => (name in params ? params[name] : fallback),
  setResult: (value) => fs.writeFileSync(process.env.SCRIPTMAN_RESULT, JSON.stringify(value)),
  progress: (percent, message = '') => {
    const pct = Math.max(0, Math.min(100, Number(percent)));
    process.stdout.write('::scriptman-progress::' + JSON.stringify({ percent: pct, message: String(message) }) + '\n');
  },
  log: (level, message) => process.stderr.write('[' + String(level).toUpperCase() + '] ' + message + '\n'),
};
