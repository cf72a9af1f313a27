using System.Text;
using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>TextFile.ReadAllText (the image's small replacement for File.ReadAllText) against File.ReadAllText.</summary>
public sealed class TextFileTests
{
    [Theory]
    [InlineData(0, false)]
    [InlineData(10, false)]
    [InlineData(10, true)]
    [InlineData(4096, false)]
    [InlineData(4093, true)]
    [InlineData(20_000, true)]
    public void Reads_what_File_ReadAllText_reads_for_UTF8_with_or_without_a_byte_order_mark(int lines, bool bom)
    {
        var path = Path.GetTempFileName();
        try
        {
            var text = new StringBuilder();
            for (var i = 0; i < lines; i++)
            {
                text.Append(i % 7 == 0 ? "ünïcødé €" : "www").Append(' ').Append(i).Append('\n');
            }
            File.WriteAllText(path, text.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: bom));
            Assert.Equal(bom, File.ReadAllBytes(path).AsSpan().StartsWith(new byte[] { 0xEF, 0xBB, 0xBF }));
            Assert.Equal(File.ReadAllText(path), TextFile.ReadAllText(path));
            Assert.Equal(text.ToString(), TextFile.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(100_000)]
    public void ReadAllBytes_reads_what_File_ReadAllBytes_reads(int length)
    {
        var path = Path.GetTempFileName();
        try
        {
            var bytes = new byte[length];
            new Random(length).NextBytes(bytes);
            File.WriteAllBytes(path, bytes);
            Assert.Equal(File.ReadAllBytes(path), TextFile.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Reads_files_whose_size_the_kernel_does_not_report()
    {
        // /proc files report a size of 0.
        Assert.Equal(0, new FileInfo("/proc/self/status").Length);
        Assert.Contains("Name:", TextFile.ReadAllText("/proc/self/status"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_throws_what_File_does() =>
        Assert.Throws<FileNotFoundException>(() => TextFile.ReadAllText("/nonexistent-" + Guid.NewGuid().ToString("N")));
}
