import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redirectsToThisDevice } from './urls.ts';

test('redirectsToThisDevice: every spelling of this device, in http and https; nothing else', () => {
  const device = [
    'http://localhost:5173/cb', 'https://LOCALHOST/cb', 'http://app.localhost:3000/', 'https://localhost.:5311/cb', 'https://app.localhost.:5316/cb',
    'http://127.0.0.1:8080/cb', 'http://127.1/', 'https://127.255.0.9/', 'http://0x7f.1/', 'http://2130706433/',
    'https://0.0.0.0:5312/cb', 'https://0:5315/cb', 'https://0.1.2.3/',
    'http://[::1]:5195/cb', 'https://[0:0:0:0:0:0:0:1]/', 'https://[::]:5314/cb',
    'https://[::ffff:127.0.0.1]:5313/cb', 'https://[::ffff:0.0.0.0]/', 'https://[::127.0.0.1]/',
  ];
  for (const u of device) assert.equal(redirectsToThisDevice(u), true, u);
  const elsewhere = [
    'https://app.example/cb', 'https://localhost.example/cb', 'https://mylocalhost/cb', 'https://128.0.0.1/', 'https://10.0.0.1/', 'https://1.0.0.127/',
    'https://[fe80::1]/', 'https://[::ffff:8.8.8.8]/', 'https://[2001:db8::1]/', 'com.example.app:/callback', 'not a url', undefined, 42,
  ];
  for (const u of elsewhere) assert.equal(redirectsToThisDevice(u), false, String(u));
});
