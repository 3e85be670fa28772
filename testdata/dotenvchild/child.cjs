// Prints what the npm dotenv package reads from the file named by the
// first argument, as `helper env` prints an environment: NAME HASH lines
// (never a value), sorted, then "end".
const fs = require('fs');
const crypto = require('crypto');
const dotenv = require('dotenv');

const parsed = dotenv.parse(fs.readFileSync(process.argv[2]));
for (const name of Object.keys(parsed).sort()) {
  const hash = crypto.createHash('sha256').update(Buffer.from(parsed[name], 'utf8')).digest('hex').slice(0, 16);
  console.log(name + ' ' + hash);
}
console.log('end');
