# The installer as a user runs it: install silently, check the Start-menu entry and the uninstaller's
# registration, run the installed app's self-test in a fresh folder, uninstall, check nothing is left.
#   powershell -ExecutionPolicy Bypass -File packaging\windows\smoke_test.ps1 dist\cnn-feature-explorer-VERSION-windows-x64-setup.exe
param([Parameter(Mandatory = $true)][string]$Setup)
$ErrorActionPreference = "Stop"
$target = Join-Path $env:RUNNER_TEMP "CNN Feature Explorer"
if (-not $env:RUNNER_TEMP) { $target = Join-Path $env:TEMP "CNN Feature Explorer" }
Start-Process -FilePath $Setup -ArgumentList "/S", "/D=$target" -Wait
$cli = Join-Path $target "cnn-feature-explorer-cli.exe"
foreach ($f in @((Join-Path $target "cnn-feature-explorer.exe"), $cli, (Join-Path $target "uninstall.exe"))) {
  if (-not (Test-Path $f)) { throw "not installed: $f" }
}
$shortcut = Join-Path ([Environment]::GetFolderPath("CommonPrograms")) "CNN Feature Explorer.lnk"
if (-not (Test-Path $shortcut)) { throw "no Start-menu entry: $shortcut" }
$key = "HKLM:\Software\Microsoft\Windows\CurrentVersion\Uninstall\cnn-feature-explorer"
if (-not (Test-Path $key)) { throw "not registered with Settings > Apps" }
$work = Join-Path ([IO.Path]::GetTempPath()) ("selftest-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $work | Out-Null
Push-Location $work
$env:QT_QPA_PLATFORM = "offscreen"
& $cli --self-test --report "$work\report.json" --screenshot "$work\window.png"
$code = $LASTEXITCODE
Remove-Item Env:\QT_QPA_PLATFORM
Pop-Location
if ($code -ne 0) { Get-Content "$work\report.json"; throw "self-test of the installed app failed" }
Start-Process -FilePath (Join-Path $target "uninstall.exe") -ArgumentList "/S", "_?=$target" -Wait
Remove-Item (Join-Path $target "uninstall.exe") -ErrorAction SilentlyContinue  # _?= leaves the uninstaller itself
foreach ($part in @("_internal", "Python", "pkgs", "cnn-feature-explorer.exe")) {  # either layout (installer.nsi)
  if (Test-Path (Join-Path $target $part)) { throw "the uninstaller left the app behind: $part" }
}
if (Test-Path $shortcut) { throw "the uninstaller left the Start-menu entry" }
Write-Output "smoke test passed: $Setup"
