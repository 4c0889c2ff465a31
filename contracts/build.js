#!/usr/bin/env node
// Compiles ReceiptAnchor.sol with the pinned solc-js and writes the artifact the Python package
// ships (market/receipts/data/ReceiptAnchor.json). The output is deterministic: the same source,
// compiler and settings give a byte-identical file.
//
//   node contracts/build.js          write the artifact
//   node contracts/build.js --check  exit 1 if the committed artifact differs from a fresh build
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const CONTRACT = 'ReceiptAnchor';
const SOURCE_PATH = path.join(__dirname, `${CONTRACT}.sol`);
const ARTIFACT_PATH = path.join(__dirname, '..', 'market', 'receipts', 'data', `${CONTRACT}.json`);

// Recorded in the artifact as they are given to the compiler (key order included).
// cancun runs on py-evm (eth-tester) and on anvil/geth/reth alike.
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
};

function fail(message) {
  process.stderr.write(`build.js: ${message}\n`);
  process.exit(1);
}

function loadSolc() {
  const pinned = require('./package.json').devDependencies.solc;
  let solc;
  let installed;
  try {
    solc = require('solc');
    installed = require('solc/package.json').version;
  } catch (err) {
    fail(`solc is not installed (${err.code || err.message}); run: npm ci --prefix contracts`);
  }
  if (installed !== pinned) {
    fail(`installed solc ${installed} is not the pinned ${pinned}; run: npm ci --prefix contracts`);
  }
  return solc;
}

function build() {
  const solc = loadSolc();
  const source = fs.readFileSync(SOURCE_PATH);
  const fileName = `${CONTRACT}.sol`;
  const input = {
    language: 'Solidity',
    sources: { [fileName]: { content: source.toString('utf8') } },
    settings: {
      ...SETTINGS,
      outputSelection: {
        [fileName]: { [CONTRACT]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  // Warnings fail the build as well: the source is kept free of them.
  const problems = output.errors || [];
  if (problems.length > 0) {
    fail(`solc reported:\n${problems.map((e) => e.formattedMessage || e.message).join('\n')}`);
  }
  const compiled = output.contracts[fileName][CONTRACT];
  const artifact = {
    contractName: CONTRACT,
    compiler: { name: 'solc', version: solc.version() },
    settings: SETTINGS,
    sourceSha256: crypto.createHash('sha256').update(source).digest('hex'),
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function main(args) {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) fail(`unknown argument(s): ${unknown.join(' ')}; usage: build.js [--check]`);
  const fresh = build();
  const shown = path.relative(process.cwd(), ARTIFACT_PATH);
  if (args.includes('--check')) {
    let committed = null;
    try {
      committed = fs.readFileSync(ARTIFACT_PATH, 'utf8');
    } catch (err) {
      fail(`${shown} is missing (${err.code}); run: node contracts/build.js`);
    }
    if (committed !== fresh) {
      fail(`${shown} is stale: it differs from a fresh build of ${CONTRACT}.sol; ` +
        'run: node contracts/build.js');
    }
    process.stdout.write(`${shown} is up to date\n`);
    return;
  }
  fs.mkdirSync(path.dirname(ARTIFACT_PATH), { recursive: true });
  fs.writeFileSync(ARTIFACT_PATH, fresh);
  process.stdout.write(`wrote ${shown}\n`);
}

main(process.argv.slice(2));
