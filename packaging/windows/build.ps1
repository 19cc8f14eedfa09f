# Windows: build the app folder, self-test it and wrap it in an installer (run in PowerShell from the repository root).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# -> dist\cnn-feature-explorer\ (app folder) and dist\cnn-feature-explorer-VERSION-windows-x64-setup.exe
# Needs Python 3.11 (py launcher) and NSIS (makensis on PATH, or in Program Files; GitHub's Windows runners have it).
# PyTorch's Windows wheels on PyPI are CPU-only, so this build runs on the CPU (README: the CUDA build).
$ErrorActionPreference = "Stop"
$venv = "build\venv-windows"
if (-not (Test-Path "$venv\Scripts\python.exe")) {
  if ($env:pythonLocation) { & "$env:pythonLocation\python.exe" -m venv $venv } else { py -3.11 -m venv $venv }
}
$py = "$venv\Scripts\python.exe"
& $py -m pip install --quiet --disable-pip-version-check ".[packaging]"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
& $py packaging\make_icons.py build\icons
$version = (& $py -c "import explorer; print(explorer.__version__)").Trim()
& $py -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller packaging\explorer.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
Remove-Item -Recurse -Force build\pyinstaller
& $py packaging\windows\check_dlls.py dist\cnn-feature-explorer
if ($LASTEXITCODE -ne 0) { throw "a DLL the app needs is not in dist\cnn-feature-explorer" }
$env:QT_QPA_PLATFORM = "offscreen"
& dist\cnn-feature-explorer\cnn-feature-explorer-cli.exe --self-test --report dist\self-test.json --screenshot dist\self-test.png
if ($LASTEXITCODE -ne 0) { throw "self-test failed: see dist\self-test.json" }
Remove-Item Env:\QT_QPA_PLATFORM
$makensis = (Get-Command makensis -ErrorAction SilentlyContinue).Source
if (-not $makensis) { $makensis = "${env:ProgramFiles(x86)}\NSIS\makensis.exe" }
$root = (Get-Location).Path
$setup = "$root\dist\cnn-feature-explorer-$version-windows-x64-setup.exe"
& $makensis /V2 "/DVERSION=$version" "/DAPP_DIR=$root\dist\cnn-feature-explorer" "/DICON=$root\build\icons\explorer.ico" "/DOUT=$setup" packaging\windows\installer.nsi
if ($LASTEXITCODE -ne 0) { throw "makensis failed" }
Write-Output "built: $setup ($([math]::Round((Get-Item $setup).Length / 1MB)) MB)"
