using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace DiffusersSharp.Serving;

/// <summary>
/// An <see cref="IJobStore"/> that survives restarts: job records in a SQLite database (<c>jobs.db</c>) and result
/// PNGs in <c>results/&lt;job id&gt;/&lt;index&gt;.png</c> under one folder.
/// </summary>
public sealed class SqliteJobStore : IJobStore
{
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly string _results;

    public SqliteJobStore(string directory)
    {
        Directory.CreateDirectory(directory);
        _results = Path.Combine(directory, "results");
        Directory.CreateDirectory(_results);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(directory, "jobs.db"), Pooling = false }.ToString());
        _connection.Open();
        // WAL with synchronous NORMAL, as SQLite advises for WAL: no fsync per commit (three per job, about 1 ms a job
        // here). A process crash loses nothing; a power cut may lose the last commits, never the database.
        Execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY,
                idempotency_key TEXT UNIQUE,
                state TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                finished_at INTEGER,
                info TEXT NOT NULL,
                request TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
            CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs (finished_at);
            """);
    }

    public async Task<StoredJob> AddAsync(StoredJob job, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (job.IdempotencyKey is { } key && Find("idempotency_key = $p", key) is { } existing) return existing;
            using var command = Command("INSERT INTO jobs (id, idempotency_key, state, created_at, finished_at, info, request) VALUES ($id, $key, $state, $created, $finished, $info, $request)");
            command.Parameters.AddWithValue("$id", job.Info.Id);
            command.Parameters.AddWithValue("$key", (object?)job.IdempotencyKey ?? DBNull.Value);
            command.Parameters.AddWithValue("$request", JsonSerializer.Serialize(job.Request));
            AddInfo(command, job.Info);
            command.ExecuteNonQuery();
            return job;
        }
        finally
        {
            _lock.Release();
        }
    }

    public Task<StoredJob?> GetAsync(string id, CancellationToken cancellationToken = default) => Locked(() => Find("id = $p", id), cancellationToken);

    public Task<StoredJob?> FindByIdempotencyKeyAsync(string idempotencyKey, CancellationToken cancellationToken = default) =>
        Locked(() => Find("idempotency_key = $p", idempotencyKey), cancellationToken);

    public Task UpdateAsync(JobInfo info, CancellationToken cancellationToken = default) => Locked(() =>
    {
        using var command = Command("UPDATE jobs SET state = $state, created_at = $created, finished_at = $finished, info = $info WHERE id = $id");
        command.Parameters.AddWithValue("$id", info.Id);
        AddInfo(command, info);
        return command.ExecuteNonQuery();
    }, cancellationToken);

    public Task<IReadOnlyList<StoredJob>> ListUnfinishedAsync(CancellationToken cancellationToken = default) => Locked(() =>
    {
        using var command = Command($"SELECT info, request, idempotency_key FROM jobs WHERE state IN ('{JobState.Queued}', '{JobState.Running}') ORDER BY created_at, rowid");
        return (IReadOnlyList<StoredJob>)ReadAll(command);
    }, cancellationToken);

    public async Task SaveImagesAsync(string id, IReadOnlyList<byte[]> images, CancellationToken cancellationToken = default)
    {
        var folder = Path.Combine(_results, SafeId(id));
        Directory.CreateDirectory(folder);
        for (var i = 0; i < images.Count; i++)
            await File.WriteAllBytesAsync(Path.Combine(folder, $"{i}.png"), images[i], cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default)
    {
        if (index < 0) return null;
        var path = Path.Combine(_results, SafeId(id), $"{index}.png");
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public async Task<int> DeleteFinishedBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        var ids = await Locked(() =>
        {
            var expired = new List<string>();
            using (var select = Command("SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $cutoff"))
            {
                select.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
                using var reader = select.ExecuteReader();
                while (reader.Read()) expired.Add(reader.GetString(0));
            }
            using var delete = Command("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $cutoff");
            delete.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
            delete.ExecuteNonQuery();
            return expired;
        }, cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            var folder = Path.Combine(_results, SafeId(id));
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        return ids.Count;
    }

    /// <summary>Job ids are made by the service, but a path is built from them: refuse anything but a plain name.</summary>
    private static string SafeId(string id) =>
        id.Length > 0 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? id : throw new ArgumentException($"'{id}' is not a job id.", nameof(id));

    private async Task<T> Locked<T>(Func<T> action, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return action();
        }
        finally
        {
            _lock.Release();
        }
    }

    private StoredJob? Find(string where, string value)
    {
        using var command = Command($"SELECT info, request, idempotency_key FROM jobs WHERE {where}");
        command.Parameters.AddWithValue("$p", value);
        return ReadAll(command).FirstOrDefault();
    }

    private static List<StoredJob> ReadAll(SqliteCommand command)
    {
        var jobs = new List<StoredJob>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            jobs.Add(new StoredJob(
                JsonSerializer.Deserialize<JobInfo>(reader.GetString(0))!,
                JsonSerializer.Deserialize<GenerationRequest>(reader.GetString(1))!,
                reader.IsDBNull(2) ? null : reader.GetString(2)));
        return jobs;
    }

    private static void AddInfo(SqliteCommand command, JobInfo info)
    {
        command.Parameters.AddWithValue("$state", info.State.ToString());
        command.Parameters.AddWithValue("$created", info.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$finished", info.FinishedAt is { } f ? f.ToUnixTimeMilliseconds() : DBNull.Value);
        command.Parameters.AddWithValue("$info", JsonSerializer.Serialize(info));
    }

    private SqliteCommand Command(string sql)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    private void Execute(string sql)
    {
        using var command = Command(sql);
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _connection.Dispose();
        _lock.Dispose();
    }
}
