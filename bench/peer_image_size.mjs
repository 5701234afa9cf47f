// Times npm image-size 2.x over a list of files; run by run_local.py.
//
// Usage: node peer_image_size.mjs fromFile|readFile LISTFILE DIMENSIONS_OUT
//
//   fromFile  await imageSizeFromFile(path) for one file after another: the package's own file
//             API ('image-size/fromFile'), which reads min(file size, 512 KiB) into a buffer
//   readFile  imageSize(fs.readFileSync(path)): the whole file, the README's buffer example
//
// Prints one JSON object like probe_bench's; DIMENSIONS_OUT receives "path<TAB>width<TAB>height"
// for each file it answered (an exception means it could not read the file).
import * as fs from 'node:fs';
import { imageSize } from 'image-size';
import { imageSizeFromFile } from 'image-size/fromFile';

// rchar of /proc/self/io: bytes this process got from read system calls (proc(5)).
function bytesReadByProcess() {
  const match = /rchar:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  return match ? Number(match[1]) : 0;
}

const [mode, listPath, dimensionsPath] = process.argv.slice(2);
if (mode !== 'fromFile' && mode !== 'readFile') {
  console.error('usage: node peer_image_size.mjs fromFile|readFile LISTFILE DIMENSIONS_OUT');
  process.exit(2);
}
const paths = fs.readFileSync(listPath, 'utf8').split('\n').filter((line) => line.length > 0);
const answers = new Array(paths.length);
let errors = 0;

const rcharBefore = bytesReadByProcess();
const start = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
for (let i = 0; i < paths.length; ++i) {
  try {
    answers[i] = mode === 'fromFile'
      ? await imageSizeFromFile(paths[i])
      : imageSize(fs.readFileSync(paths[i]));
  } catch {
    errors += 1;
  }
}
const cpu = process.cpuUsage(cpuStart);  // all threads: libuv's pool does the file I/O
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const rchar = bytesReadByProcess() - rcharBefore;

const lines = [];
paths.forEach((path, i) => {
  const answer = answers[i];
  if (answer && Number.isInteger(answer.width) && Number.isInteger(answer.height)) {
    lines.push(`${path}\t${answer.width}\t${answer.height}\n`);
  }
});
fs.writeFileSync(dimensionsPath, lines.join(''));
const summary = {
  mode: `image-size ${mode}`, files: paths.length, seconds, cpu_seconds: cpuSeconds, rchar, errors,
};
console.log(JSON.stringify(summary));
