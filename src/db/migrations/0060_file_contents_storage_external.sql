-- File contents are AES-256-GCM ciphertext: random bytes that never compress. EXTERNAL storage keeps large
-- values out of line (TOAST) without the compression attempt PostgreSQL would otherwise make on every write
-- (and throw away), which costs CPU on every intake with a file, most of all inside PGlite's single thread.
alter table file_contents alter column content set storage external;
